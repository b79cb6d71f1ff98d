"""The feature cache on real digits (scikit-learn's load_digits): a phase that trains from the
frozen first module's cached outputs learns exactly as one that computes them, and the cache is
computed again for what changed (an image, the transform, the weights) and only for that."""

from __future__ import annotations

import copy
import csv
import json
import shutil
import subprocess
import sys

import pytest
import torch
import yaml
from digits import digit_images, digits_folder
from generated import import_generated, small_san, stopping_after
from torchvision.io import read_image, write_png
from torchvision.transforms import v2

from scaffold.blueprint import blueprint_from_data
from scaffold.render import new_project

BLUEPRINT = {
    "name": "cachedigits",
    "input": {"channels": 1, "height": 16, "width": 16},
    "model": {
        "layers": [
            {"vgg": {"cfg": [8, "M", 16, "M"]}},  # `features`, frozen and cached
            "flatten",
            {"linear": {"out": "classes", "name": "fc"}},
        ]
    },
    "data": {
        "dataset": "image_folder",
        "classes": 10,
        "normalize": "half",
        "transforms": {"train": [{"resize": [16, 16]}], "eval": [{"resize": [16, 16]}]},
    },
    "train": {
        "batch_size": 32,
        "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9},
        "phases": [{"name": "head", "epochs": 1, "trainable": ["fc"], "cache_features": True}],
    },
}
FLAGS = ["--device", "cpu", "--workers", "0"]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("cache")
    dest = root / "cachedigits"
    new_project(blueprint_from_data(BLUEPRINT), dest, "cachedigits", git=False)
    config = yaml.safe_load((dest / "configs" / "default.yaml").read_text())
    config["train"]["phases"][0]["cache_features"] = False
    (dest / "configs" / "computed.yaml").write_text(yaml.safe_dump(config))
    return dest, digits_folder(root / "digits", count=600)


def metrics(out) -> list[dict]:
    with open(out / "metrics.csv") as f:
        return list(csv.DictReader(f))


def test_cached_features_give_the_losses_and_weights_of_computed_ones(project, tmp_path, capsys):
    dest, digits = project
    train = import_generated(dest, "train")
    train.main([*FLAGS, "--data-root", str(digits), "--out", str(tmp_path / "cached")])
    assert "feature cache" in capsys.readouterr().out
    assert (tmp_path / "cached" / "feature_cache" / "train" / "features.bin").is_file()
    config = str(dest / "configs" / "computed.yaml")
    train.main(
        [
            *FLAGS,
            "--data-root",
            str(digits),
            "--config",
            config,
            "--out",
            str(tmp_path / "computed"),
        ]
    )
    assert "feature cache" not in capsys.readouterr().out
    cached, computed = metrics(tmp_path / "cached")[0], metrics(tmp_path / "computed")[0]
    for key in ("train_loss", "train_acc", "val_loss", "val_acc"):
        assert float(cached[key]) == pytest.approx(float(computed[key]), rel=1e-5), key
    a = torch.load(tmp_path / "cached" / "last.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "computed" / "last.pt", weights_only=False)["model"]
    for key in a:  # the frozen module's weights untouched, in the checkpoint too
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6)


def test_a_changed_image_transform_or_weights_is_computed_again(project, tmp_path, capsys):
    dest, shared = project
    digits = shutil.copytree(shared, tmp_path / "digits")  # one of them is changed here
    data, features, train, model = (
        import_generated(dest, name) for name in ("data", "features", "train", "model")
    )
    config = yaml.safe_load((dest / "configs" / "default.yaml").read_text())["data"]
    sets = data.load_datasets(str(digits), config, 0)
    net, run = model.Cachedigits(), train.Run(torch.device("cpu"))
    folder = tmp_path / "cache"

    def cache(transform=sets.train.transform):
        capsys.readouterr()
        cached = features.cached(sets.train, transform, net.features, folder, run, 32, 0)
        return cached, capsys.readouterr().out

    cached, said = cache()
    assert f"0 images reused, {len(sets.train)} to compute" in said
    cached, said = cache()
    assert said == ""  # all valid: nothing to say, nothing to compute
    image = sets.train.samples[7][0]
    write_png(255 - read_image(image), image)  # the same file, another picture
    cached, said = cache()
    assert f"{len(sets.train) - 1} images reused, 1 to compute" in said
    again = net.features(data.normalize(sets.train[7]["image"][None]))[0]
    torch.testing.assert_close(cached[7]["features"], again)
    assert cached[7]["label"] == sets.train[7]["label"]
    flipped = v2.Compose([sets.train.transform, v2.RandomHorizontalFlip(p=1.0)])
    assert f"0 images reused, {len(sets.train)} to compute" in cache(flipped)[1]
    with torch.no_grad():
        net.features[0].weight.mul_(2)
    assert f"0 images reused, {len(sets.train)} to compute" in cache(flipped)[1]
    image = flipped(data.decode(data.read_file(sets.train.samples[3][0]), ""))
    torch.testing.assert_close(
        cache(flipped)[0][3]["features"], net.features(data.normalize(image[None]))[0]
    )


def test_a_cached_phase_stopped_mid_epoch_resumes_to_the_uninterrupted_weights(
    project, tmp_path, monkeypatch, capsys
):
    dest, digits = project
    train = import_generated(dest, "train")
    flags = [*FLAGS, "--data-root", str(digits), "--epochs", "2", "--limit-batches", "4"]
    train.main([*flags, "--out", str(tmp_path / "whole")])

    with monkeypatch.context() as patch:
        patch.setattr(train, "Stop", stopping_after(train, 6))  # in the second epoch
        with pytest.raises(SystemExit) as stopped:
            train.main([*flags, "--out", str(tmp_path / "parts")])
    assert stopped.value.code == 130
    saved = torch.load(tmp_path / "parts" / "last.pt", weights_only=False)
    assert (saved["epoch"], saved["step"]) == (1, 2)  # inside the second epoch
    capsys.readouterr()
    train.main([*flags, "--resume", str(tmp_path / "parts" / "last.pt")])
    assert "to compute" not in capsys.readouterr().out  # the stopped run's cache, reused
    whole = torch.load(tmp_path / "whole" / "last.pt", weights_only=False)["model"]
    parts = torch.load(tmp_path / "parts" / "last.pt", weights_only=False)["model"]
    assert all(torch.equal(whole[k], parts[k]) for k in whole)


def test_cache_features_eval_trains_on_the_evaluation_transforms_images(tmp_path):
    """Random training transforms cannot be cached: `eval` caches the evaluation ones' images."""
    blueprint = copy.deepcopy(BLUEPRINT)
    blueprint["data"]["transforms"]["train"].append("random_horizontal_flip")
    blueprint["train"]["phases"][0]["cache_features"] = "eval"
    dest = tmp_path / "cacheeval"
    new_project(
        blueprint_from_data({**blueprint, "name": "cacheeval"}), dest, "cacheeval", git=False
    )
    digits = digits_folder(tmp_path / "digits", count=400)
    train, data, features = (import_generated(dest, m) for m in ("train", "data", "features"))
    train.main([*FLAGS, "--data-root", str(digits), "--out", str(tmp_path / "out")])
    folder = tmp_path / "out" / "feature_cache" / "train"
    index = features.read_index(folder)
    rows = features.open_features(folder, index)
    config = yaml.safe_load((dest / "configs" / "default.yaml").read_text())["data"]
    sets = data.load_datasets(str(digits), config, 0)
    model, _ = import_generated(dest, "evaluate").load_checkpoint(
        tmp_path / "out" / "last.pt", torch.device("cpu")
    )
    for i in (0, 5):
        image = sets.val.transform(data.decode(data.read_file(sets.train.samples[i][0]), ""))
        with torch.no_grad():
            expected = model.features(data.normalize(image[None]))[0]
        row = index["keys"].index(sets.train.image_key(i))
        torch.testing.assert_close(rows[row], expected)


# --- a stacked attention network: several questions about each image, one cached row ------------

SAN = small_san(
    "sancache",
    answers=12,
    train={
        "batch_size": 32,
        "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9},
        "phases": [
            {"name": "attention", "epochs": 1, "frozen": ["features"], "cache_features": True}
        ],
    },
)
NAMES = "zero one two three four five six seven eight nine".split()


def digit_questions(root, count: int = 300):
    """Real digits as 32x32 RGB PNGs with two questions each (the digit, whether it is odd):
    train.jsonl for the first 80%, val.jsonl for the rest."""
    images, labels = digit_images(32, channels=3)
    (root / "images").mkdir(parents=True)
    lines = {"train": [], "val": []}
    for i in range(count):
        image = f"images/{i:04d}.png"
        write_png(images[i], str(root / image))
        digit = int(labels[i])
        split = "train" if i < count * 0.8 else "val"
        for question, answer in (
            ("what digit is this", NAMES[digit]),
            ("is the digit odd", "yes" if digit % 2 else "no"),
        ):
            lines[split].append(
                json.dumps({"image": image, "question": question, "answer": answer})
            )
    for split, rows in lines.items():
        (root / f"{split}.jsonl").write_text("\n".join(rows) + "\n")
    return root


def test_a_san_trains_from_cached_image_features_as_from_computed_ones(tmp_path, capsys):
    dest = tmp_path / "sancache"
    new_project(blueprint_from_data(SAN), dest, "sancache", git=False)
    config = yaml.safe_load((dest / "configs" / "default.yaml").read_text())
    config["train"]["phases"][0]["cache_features"] = False
    (dest / "configs" / "computed.yaml").write_text(yaml.safe_dump(config))
    questions = digit_questions(tmp_path / "questions")
    train = import_generated(dest, "train")
    flags = [*FLAGS, "--data-root", str(questions)]
    train.main([*flags, "--out", str(tmp_path / "cached")])
    said = capsys.readouterr().out
    assert "0 images reused, 240 to compute" in said  # 480 training questions, 240 images
    index = json.loads((tmp_path / "cached" / "feature_cache" / "train" / "index.json").read_text())
    assert len(index["keys"]) == 240 and index["shape"] == [16, 8, 8]
    computed = [
        "--config",
        str(dest / "configs" / "computed.yaml"),
        "--out",
        str(tmp_path / "computed"),
    ]
    train.main([*flags, *computed])
    cached, computed = metrics(tmp_path / "cached")[0], metrics(tmp_path / "computed")[0]
    # the same dropout masks too: building the cache draws nothing from the global generator
    for key in ("train_loss", "train_acc", "val_loss", "val_acc"):
        assert float(cached[key]) == pytest.approx(float(computed[key]), rel=1e-5), key


def test_the_generated_code_is_black_and_ruff_clean(project):
    dest, _ = project
    readme = " ".join((dest / "README.md").read_text().split())
    assert "**Feature cache**: In phase head, the frozen `features` runs once per image" in readme
    for check in (
        ["black", "--check", "-q"],
        ["ruff", "check", "-q", "--isolated", "--select", "F"],
    ):
        done = subprocess.run([sys.executable, "-m", *check, "."], cwd=dest, capture_output=True)
        assert done.returncode == 0, done.stdout + done.stderr
