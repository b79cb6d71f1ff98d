"""The feature cache on real digits (scikit-learn's load_digits): a phase that trains from the
frozen first module's cached outputs learns exactly as one that computes them, and the cache is
computed again for what changed (an image, the transform, the weights) and only for that."""

from __future__ import annotations

import csv
import shutil

import pytest
import torch
import yaml
from digits import digits_folder
from generated import import_generated
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
