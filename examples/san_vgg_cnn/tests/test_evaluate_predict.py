"""Evaluation in each precision, and prediction over many images, from a short run's best.pt."""

import csv
import io
import json

import pytest
import torch
import yaml
from torchvision.io import write_png

from san_vgg_cnn import evaluate, predict, train

SMOKE = [
    "--device", "cpu",
    "--dataset", "synthetic",
    "--epochs", "1",
    "--batch-size", "4",
    "--limit-batches", "1",
    "--workers", "0",
    "--image-size", "32",
    "--no-pretrained",
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
    flags += ["--workers", "0"]
    evaluate.main(["--checkpoint", str(trained), "--device", "cpu", *flags])
    assert outputs and set(outputs) == {dtype}
    report = capsys.readouterr().out
    assert f"(one process, {precision})" in report and "accuracy: " in report


def test_predict_one_image_and_question_prints_the_answers_and_saves_attention(
    trained, images, tmp_path, capsys
):
    maps = tmp_path / "attention.png"
    predict.main(
        [
            "--checkpoint", str(trained), "--device", "cpu", "--top", "2",
            "--image", str(images / "a.png"), "--question", "what shape is it?",
            "--attention", str(maps),
        ]
    )  # fmt: skip
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Q: what shape is it?" and all("%" in line for line in lines[1:3])
    assert maps.is_file()


def test_predict_answers_pairs_and_question_files_in_batches(trained, images, tmp_path, capsys):
    questions = images / "questions.jsonl"  # the images' paths relative to its folder
    records = [
        {"image": "a.png", "question": "what shape is it?"},
        {"image": "broken.png", "question": "is it red?"},
        {"image": "more/c.png", "question": "how many shapes?"},
    ]
    questions.write_text("".join(json.dumps(record) + "\n" for record in records))
    table = tmp_path / "answers.json"
    common = ["--checkpoint", str(trained), "--device", "cpu", "--top", "2"]
    capsys.readouterr()
    predict.main(
        [*common, "--questions", str(questions), "--batch-size", "2", "--output", str(table)]
    )
    rows = json.loads(table.read_text())
    assert [(row["image"], row["question"]) for row in rows] == [
        (str(images / "a.png"), "what shape is it?"),
        (str(images / "more/c.png"), "how many shapes?"),
    ]
    assert all(
        len(row["top"]) == 2 and set(row["top"][0]) == {"answer", "probability"} for row in rows
    )
    err = capsys.readouterr().err
    assert "broken.png" in err and "skipped 1 images" in err
    # pairs on the command line, the first question about the first image; one batch of both
    pairs = ["--image", str(images / "a.png"), "--question", "what shape is it?"]
    pairs += ["--image", str(images / "more/c.png"), "--question", "how many shapes?"]
    predict.main([*common, *pairs])
    got = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert got[0] == ["image", "question", "answer_1", "probability_1", "answer_2", "probability_2"]
    assert [row[:2] for row in got[1:]] == [
        [str(images / "a.png"), "what shape is it?"],
        [str(images / "more/c.png"), "how many shapes?"],
    ]
    # the same answers one at a time and in a batch
    batched = {row["image"]: row["top"] for row in rows}
    predict.main([*common, *pairs[:4], "--format", "json"])
    alone = json.loads(capsys.readouterr().out)[0]["top"]
    assert alone[0]["answer"] == batched[str(images / "a.png")][0]["answer"]
    assert alone[0]["probability"] == pytest.approx(
        batched[str(images / "a.png")][0]["probability"], abs=1e-4
    )


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--image", "IMAGES/a.png"], "1 --image and 0 --question"),
        (["--image", "IMAGES/none.png", "--question", "q"], "no such file"),
        (
            [
                "--image",
                "IMAGES/a.png",
                "--question",
                "q",
                "--output",
                "x.csv",
                "--attention",
                "m.png",
            ],
            "--attention",
        ),
        (["--image", "IMAGES/broken.png", "--question", "q"], "cannot decode image"),
    ],
)
def test_predict_refuses_what_it_cannot_answer(trained, images, capsys, flags, message):
    flags = [flag.replace("IMAGES", str(images)) for flag in flags]
    with pytest.raises(SystemExit) as stopped:
        predict.main(["--checkpoint", str(trained), "--device", "cpu", *flags])
    assert stopped.value.code == 2 and message in capsys.readouterr().err
