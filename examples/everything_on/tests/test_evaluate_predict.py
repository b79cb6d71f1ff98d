"""Evaluation in each precision, and prediction over many images, from a short run's best.pt."""

import csv
import json

import pytest
import torch
import yaml
from torchvision.io import write_png

from everything_on import evaluate, predict, train

SMOKE = [
    "--device", "cpu",
    "--dataset", "synthetic",
    "--epochs", "1",
    "--batch-size", "4",
    "--limit-batches", "1",
    "--workers", "0",
    "--image-size", "32",
]  # fmt: skip


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """best.pt of a short training run on 16 synthetic images (8 to validate on)."""
    out = tmp_path_factory.mktemp("run")
    config = yaml.safe_load(train.DEFAULT_CONFIG.read_text())
    config["data"]["synthetic"] = {"train_size": 16, "val_size": 8}
    (out / "small.yaml").write_text(yaml.safe_dump(config))
    train.main([*SMOKE, "--config", str(out / "small.yaml"), "--out", str(out)])
    return out / "best.pt"


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Three images, one in a subfolder, a file that is no image, and notes that are no image
    file at all."""
    folder = tmp_path_factory.mktemp("images")
    (folder / "more").mkdir()
    generator = torch.Generator().manual_seed(0)
    for name in ("a.png", "b.png", "more/c.png"):
        pixels = torch.randint(0, 256, (3, 40, 48), dtype=torch.uint8, generator=generator)
        write_png(pixels, str(folder / name))
    (folder / "broken.png").write_bytes(b"not an image")
    (folder / "notes.txt").write_text("not an image file")
    return folder


@pytest.mark.parametrize(
    "precision, dtype", [("bf16", torch.bfloat16), ("fp16", torch.float16), ("fp32", torch.float32)]
)
def test_evaluate_runs_the_model_in_the_precision_asked(
    trained, tmp_path, monkeypatch, capsys, precision, dtype
):
    outputs = []
    load = evaluate.load_checkpoint

    def load_and_watch(*args, **kwargs):
        model, saved = load(*args, **kwargs)
        model.register_forward_hook(lambda module, inputs, output: outputs.append(output.dtype))
        return model, saved

    monkeypatch.setattr(evaluate, "load_checkpoint", load_and_watch)
    flags = ["--precision", precision, "--batch-size", "2", "--limit-batches", "1"]
    flags += ["--workers", "0", "--out", str(tmp_path)]
    evaluate.main(["--checkpoint", str(trained), "--device", "cpu", *flags])
    assert outputs and set(outputs) == {dtype}
    report = capsys.readouterr().out
    assert f"(one process, {precision})" in report and "accuracy: " in report


def test_predict_one_image_prints_the_top_classes(trained, images, capsys):
    predict.main(
        [
            "--checkpoint",
            str(trained),
            "--device",
            "cpu",
            "--image",
            str(images / "a.png"),
            "--top",
            "2",
        ]
    )
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and all("%" in line for line in lines)


def test_predict_writes_a_table_of_a_folder_in_batches(trained, images, tmp_path, capsys):
    table = tmp_path / "top.csv"
    common = ["--checkpoint", str(trained), "--device", "cpu", "--top", "2"]
    predict.main([*common, str(images), "--batch-size", "2", "--output", str(table)])
    with open(table) as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["file", "class_1", "probability_1", "class_2", "probability_2"]
    files = [str(images / name) for name in ("a.png", "b.png", "more/c.png")]  # sorted, no notes
    assert [row[0] for row in rows[1:]] == files
    err = capsys.readouterr().err
    assert "broken.png" in err and "skipped 1 images" in err
    # one at a time, in JSON on the standard output: the same classes and probabilities
    for row in rows[1:]:
        predict.main([*common, "--image", row[0], "--format", "json"])
        [alone] = json.loads(capsys.readouterr().out)
        assert alone["file"] == row[0] and [t["class"] for t in alone["top"]] == row[1::2][:2]
        probabilities = [t["probability"] for t in alone["top"]]
        assert probabilities == pytest.approx([float(p) for p in row[2::2]], abs=1e-5)


def test_predict_takes_globs_and_files_each_once(trained, images, tmp_path, capsys):
    table = tmp_path / "top.json"  # JSON by the suffix
    predict.main(
        [
            "--checkpoint", str(trained), "--device", "cpu",
            str(images / "*.png"), str(images / "b.png"), "--image", str(images / "more" / "c.png"),
            "--output", str(table),
        ]
    )  # fmt: skip
    rows = json.loads(table.read_text())
    assert [row["file"] for row in rows] == [
        str(images / name) for name in ("more/c.png", "a.png", "b.png")
    ]
    assert all(len(row["top"]) == 5 for row in rows)  # --top's default
    assert "wrote 3 predictions" in capsys.readouterr().out


@pytest.mark.parametrize(
    "inputs, message",
    [
        (["IMAGES/none.png"], "no such file or folder"),
        (["IMAGES/*.jpeg"], "no file matches"),
        (["IMAGES/a.png", "IMAGES/broken.png", "--output", "OUT"], ""),
        (["--image", "IMAGES/broken.png"], "cannot decode image"),
        (["IMAGES/broken.png", "IMAGES/broken.png", "--format", "csv"], "none of the 1 images"),
    ],
)
def test_predict_refuses_what_it_cannot_read(trained, images, tmp_path, capsys, inputs, message):
    inputs = [
        name.replace("IMAGES", str(images)).replace("OUT", str(tmp_path / "t.csv"))
        for name in inputs
    ]
    command = ["--checkpoint", str(trained), "--device", "cpu", *inputs]
    if not message:  # a readable image among the unreadable: written, the rest counted
        predict.main(command)
        assert len((tmp_path / "t.csv").read_text().splitlines()) == 2
        return
    with pytest.raises(SystemExit) as stopped:
        predict.main(command)
    assert stopped.value.code == 2 and message in capsys.readouterr().err
