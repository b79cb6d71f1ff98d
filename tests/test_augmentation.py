"""RandAugment, random erasing, mixup and cutmix on real digits (scikit-learn's load_digits): what
each does to the images and labels, drawn from seeds so that a run resumed mid-epoch ends with
the weights of an uninterrupted one."""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest
import torch
import yaml
from digits import digit_images, digits_folder
from generated import import_generated, stopping_after

from scaffold.blueprint import blueprint_from_data
from scaffold.render import new_project

BLUEPRINT = {
    "name": "augdigits",
    "input": {"channels": 1, "height": 16, "width": 16},
    "model": {
        "layers": [
            {"conv": {"out": 8, "kernel": 3, "padding": 1}},
            "relu",
            {"maxpool": 2},
            "flatten",
            {"linear": "classes"},
        ]
    },
    "data": {
        "dataset": "image_folder",
        "classes": 10,
        "normalize": "half",
        "transforms": {
            "train": [{"resize": [16, 16]}, "rand_augment", "random_erasing"],
            "eval": [{"resize": [16, 16]}],
        },
    },
    "train": {
        "epochs": 1,
        "batch_size": 16,
        "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9},
        "mixup": True,
        "cutmix": True,
    },
}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("augmentation")
    new_project(blueprint_from_data(BLUEPRINT), root / "augdigits", "augdigits", git=False)
    return root / "augdigits", digits_folder(root / "digits", count=400)


@pytest.fixture
def one_thread():
    """One thread, as in a loader worker: RandAugment's affine warps are tiny matrix products,
    which two threads on a shared machine make a hundred times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_the_blueprint_settings_become_torchvisions_transforms(project):
    dest, _ = project
    code = (dest / "augdigits" / "data.py").read_text()
    assert "v2.RandAugment(interpolation=v2.InterpolationMode.BILINEAR)" in code
    assert "v2.RandomErasing(p=0.25, value=[128])" in code  # the mean colour of `half`
    train = (dest / "augdigits" / "train.py").read_text()
    assert 'v2.MixUp(alpha=settings["mixup_alpha"]' in train and "v2.RandomChoice" in train
    config = yaml.safe_load((dest / "configs" / "default.yaml").read_text())
    assert config["train"]["mixup_alpha"] == 0.2 and config["train"]["cutmix_alpha"] == 1.0
    readme = " ".join((dest / "README.md").read_text().split())
    assert (
        "**Augmentation**: RandAugment (2 operations of magnitude 9) and random erasing" in readme
    )
    assert "**Mixing**: Every training batch gets mixup (alpha 0.2, `train.mixup_alpha`)" in readme


def test_rand_augment_and_random_erasing_change_training_images_by_their_seed(project, one_thread):
    dest, root = project
    data = import_generated(dest, "data")
    config = {"val_split": 0.1, "image_size": [16, 16], "synthetic": {}}
    sets = data.load_datasets(str(root), config, 0)
    first = sets.train[(0, 11)]["image"]
    assert torch.equal(first, sets.train[(0, 11)]["image"])  # the same seed: the same image
    plain = data.decode(data.read_file(sets.train.samples[0][0]), "")
    changed = sum(not torch.equal(sets.train[(0, seed)]["image"], plain) for seed in range(20))
    assert changed >= 18  # two operations per image: rarely both leave it as it was
    evaluation = sets.val[(0, 11)]["image"]  # a seed comes along, but nothing random uses it
    assert torch.equal(evaluation, data.decode(data.read_file(sets.val.samples[0][0]), ""))
    erasing = copy.copy(sets.train.transform.transforms[-1])
    erasing.p = 1.0
    erased = erasing(plain)
    hole = erased != plain
    assert hole.any() and (erased[hole] == 128).all()
    # the mean colour, to the nearest level: about 0 once normalised, as in torchvision's refs
    filled = data.normalize(erased[None])[0][hole]
    torch.testing.assert_close(filled, torch.zeros_like(filled), atol=0.51 / 255 / 0.5, rtol=0)


def test_mixup_and_cutmix_blend_real_digits_into_soft_labels(project):
    dest, _ = project
    train, data = import_generated(dest, "train"), import_generated(dest, "data")
    images, labels = digit_images(16)
    images, labels = data.normalize(images[:16]), labels[:16]
    mix = train.BatchMix({"mixup_alpha": 0.2, "cutmix_alpha": 1.0}, 10, seed=0, rank=0)
    kinds = set()
    for step in range(12):
        mixed, targets = mix(images, labels, epoch=0, step=step)
        assert targets.shape == (16, 10)
        torch.testing.assert_close(targets.sum(1), torch.ones(16))
        share = targets[torch.arange(16), labels]  # each image's own label keeps this share
        other = images.roll(1, 0)  # the partner of each image
        if torch.allclose(
            mixed,
            share.view(-1, 1, 1, 1) * images + (1 - share.view(-1, 1, 1, 1)) * other,
            atol=1e-5,
        ):
            kinds.add("mixup")
        elif ((mixed == images) | (mixed == other)).all():
            kinds.add("cutmix")  # a rectangle of the partner pasted in
        # the hard label that training accuracy counts: the larger share
        own = share >= 0.5
        assert torch.equal(targets.argmax(1)[own], labels[own])
    assert kinds == {"mixup", "cutmix"}
    torch.manual_seed(123)  # the global generator plays no part
    again = mix(images, labels, epoch=0, step=5)
    torch.testing.assert_close(again, mix(images, labels, epoch=0, step=5))
    assert not torch.equal(again[0], mix(images, labels, epoch=0, step=6)[0])


def test_training_stopped_mid_epoch_resumes_to_the_uninterrupted_weights(
    project, tmp_path, one_thread, monkeypatch
):
    dest, root = project
    train = import_generated(dest, "train")
    flags = ["--data-root", str(root), "--device", "cpu", "--workers", "0", "--epochs", "2",
             "--limit-batches", "4"]  # fmt: skip
    train.main([*flags, "--out", str(tmp_path / "whole")])

    with monkeypatch.context() as patch:
        patch.setattr(train, "Stop", stopping_after(train, 6))  # in the second epoch
        with pytest.raises(SystemExit) as stopped:
            train.main([*flags, "--out", str(tmp_path / "parts")])
    assert stopped.value.code == 130
    saved = torch.load(tmp_path / "parts" / "last.pt", weights_only=False)
    assert (saved["epoch"], saved["step"]) != (2, 0)  # inside an epoch
    train.main([*flags, "--resume", str(tmp_path / "parts" / "last.pt")])
    whole = torch.load(tmp_path / "whole" / "last.pt", weights_only=False)["model"]
    parts = torch.load(tmp_path / "parts" / "last.pt", weights_only=False)["model"]
    assert all(torch.equal(whole[k], parts[k]) for k in whole)


def test_the_generated_code_is_black_and_ruff_clean(project):
    dest, _ = project
    for check in (
        ["black", "--check", "-q"],
        ["ruff", "check", "-q", "--isolated", "--select", "F"],
    ):
        done = subprocess.run([sys.executable, "-m", *check, "."], cwd=dest, capture_output=True)
        assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    "step, code, words",
    [
        (
            "trivial_augment",
            "v2.TrivialAugmentWide(interpolation=v2.InterpolationMode.BILINEAR)",
            "TrivialAugment (one operation of random strength per image, the wide variant)",
        ),
        (
            {"auto_augment": "imagenet"},
            "v2.AutoAugment(v2.AutoAugmentPolicy.IMAGENET,interpolation=v2.InterpolationMode.BILINEAR)",
            "AutoAugment (the policy searched on ImageNet)",
        ),
    ],
    ids=["trivial_augment", "auto_augment"],
)
def test_trivial_augment_and_auto_augment_change_images_by_their_seed(
    step, code, words, tmp_path, one_thread
):
    """torchvision's references' `--auto-augment ta_wide` and `imagenet`, drawn per sample from
    the seed like RandAugment. (The code compared without white space: black splits it.)"""
    blueprint = copy.deepcopy(BLUEPRINT)
    blueprint["data"]["transforms"]["train"] = [{"resize": [16, 16]}, step]
    del blueprint["train"]["mixup"], blueprint["train"]["cutmix"]
    dest = tmp_path / "augdigits"
    new_project(blueprint_from_data(blueprint), dest, "augdigits", git=False)
    assert code in "".join((dest / "augdigits" / "data.py").read_text().split())
    assert f"**Augmentation**: {words} through" in " ".join(
        (dest / "README.md").read_text().split()
    )
    data = import_generated(dest, "data")
    config = {"val_split": 0.1, "image_size": [16, 16], "synthetic": {}}
    sets = data.load_datasets(str(digits_folder(tmp_path / "digits", count=400)), config, 0)
    assert torch.equal(sets.train[(0, 11)]["image"], sets.train[(0, 11)]["image"])
    plain = data.decode(data.read_file(sets.train.samples[0][0]), "")
    changed = sum(not torch.equal(sets.train[(0, seed)]["image"], plain) for seed in range(20))
    assert changed >= 10  # an operation of strength 0, or the identity, now and then
