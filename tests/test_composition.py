"""A generated project holds what its blueprint says: only the code its data and recipe reach, the
blueprint's transforms and nothing else, and validation that never touches a test split."""

from __future__ import annotations

import re
import struct
from pathlib import Path

import pytest
import torch
import yaml
from generated import REPO, import_generated, project_for
from torchvision.io import write_png
from torchvision.transforms import v2

TEMPLATES = REPO / "templates"

# (project, words its package must hold, words it must not)
PIECES = {
    "lenet": (
        ["StackDataset", "datasets.MNIST", "torch.optim.SGD", "CosineAnnealingLR"],
        ["decode_jpeg", "crop_box", "bounding", "DeviceData", "GraphedStep", "cuda_graph",
         "Vocabulary", "SyntheticVQA", "question", "Adam", "RMSprop", "ReduceLROnPlateau",
         "StepLR", "set_trainable", "skip_bad", "--decode", "augment("],
    ),
    "bcnn_vgg16": (
        ["decode_jpeg", "crop_box", "cub_splits", "ReduceLROnPlateau", "set_trainable", "augment("],
        ["datasets.CIFAR10", "datasets.MNIST", "DeviceData", "GraphedStep", "Vocabulary",
         "SyntheticVQA", "Adam", "RMSprop", "CosineAnnealingLR", "TensorImages"],
    ),
    "resnet_cifar": (
        ["DeviceData", "GraphedStep", "--cuda-graph", "--data-on-device", "datasets.CIFAR10"],
        ["decode_jpeg", "crop_box", "Vocabulary", "SyntheticVQA", "RMSprop", "set_trainable"],
    ),
    "mycnn": (
        ["datasets.CIFAR10", "augment(", "torch.optim.Adam"],
        ["DeviceData", "GraphedStep", "cuda_graph", "decode_jpeg", "SGD", "Vocabulary"],
    ),
    "san_vgg_cnn": (
        ["Vocabulary", "SyntheticVQA", "decode_jpeg", "torch.optim.SGD", "split_by_image"],
        ["SyntheticShapes", "crop_box", "DeviceData", "GraphedStep", "RMSprop", "Adam",
         "TensorImages", "CosineAnnealingLR"],
    ),
}  # fmt: skip
# the training features of issue 16: none of these blueprints switches one on
FEATURES_OFF = ["AveragedModel", "no_sync", "grad_accum", "weight_decay_groups", "SummaryWriter",
                "SyncBatchNorm", "use_deterministic_algorithms", "val_ema"]  # fmt: skip


@pytest.mark.parametrize("name", sorted(PIECES))
def test_a_project_holds_only_the_code_its_blueprint_reaches(name, generated_root):
    dest, _ = project_for(name, generated_root)
    code = "\n".join(p.read_text() for p in sorted((dest / name).glob("*.py")))
    has, lacks = PIECES[name]
    assert [word for word in has if word not in code] == []
    assert [word for word in lacks + FEATURES_OFF if word in code] == []


@pytest.mark.parametrize("name", ["lenet", "resnet_cifar"])
def test_a_recipe_without_phases_gets_no_phase_code(name, generated_root):
    """One phase that trains everything is no phase: the config holds the blueprint's epochs,
    batch size, optimizer and schedule under train, and main() runs one plain epoch loop."""
    dest, _ = project_for(name, generated_root)
    code = "\n".join(p.read_text() for p in sorted((dest / name).glob("*.py")))
    assert "phase" not in code.replace("from .phases import", "")
    train = yaml.safe_load((dest / "configs" / "default.yaml").read_text())["train"]
    assert "phases" not in train and {"epochs", "batch_size", "optimizer", "schedule"} <= set(train)
    assert "phase" not in (dest / "README.md").read_text()
    bcnn, _ = project_for("bcnn_vgg16", generated_root)
    assert "for index, phase in enumerate(" in (bcnn / "bcnn_vgg16" / "train.py").read_text()


@pytest.mark.parametrize("name, workers", [("lenet", False), ("mycnn", True), ("bcnn_vgg16", True)])
def test_only_a_loader_with_worker_processes_has_a_worker_setting(name, workers, generated_root):
    """lenet's images sit in memory and no random transform changes them: its loader batches one
    tensor in the training process, so it has no --workers flag and no data.num_workers. mycnn's
    random crops and bcnn_vgg16's JPEG files are loaded by worker processes, which both set."""
    dest, _ = project_for(name, generated_root)
    files = [*(dest / name).glob("*.py"), *(dest / "tests").glob("*.py"), dest / "README.md"]
    config = (dest / "configs" / "default.yaml").read_text()
    assert ("num_workers:" in config) is workers
    for module in ("train", "evaluate", "bench"):
        assert ('add("--workers"' in (dest / name / f"{module}.py").read_text()) is workers
    mentions = [f.name for f in files if re.search(r"--workers|num_workers", f.read_text())]
    assert bool(mentions) is workers, mentions


def test_templates_print_what_python_decided():
    """Decisions are made once, on typed values (scaffold.project.Pieces): no template compares
    data set names or asks whether a blueprint is a VQA model. (model.py.jinja is the planner's.)"""
    offending = []
    for path in TEMPLATES.rglob("*.jinja"):
        if path.name == "model.py.jinja":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"p\.dataset\b|p\.is_vqa|in_memory_data|jpeg_data", line):
                offending.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert offending == []


# --- the blueprint's transforms, for every source -------------------------------------------------


def digits(root: Path, size: int, splits=("train", "val"), per_class: int = 3) -> Path:
    for split in splits:
        for label in range(10):
            folder = root / split / str(label)
            folder.mkdir(parents=True)
            for i in range(per_class):
                image = torch.randint(0, 256, (1, size, size), dtype=torch.uint8)
                write_png(image, str(folder / f"{i}.png"))
    return root


CONFIG = {
    "synthetic": {"train_size": 20, "val_size": 10},
    "val_split": 0.25,
    "image_size": [32, 32],
}


def test_lenet_folders_get_the_blueprints_transforms_and_only_the_resize_they_need(
    generated_root, tmp_path
):
    """LeNet's recipe is pad 2 for 28x28 MNIST digits: 28x28 files are padded to 32x32 and
    nothing else; files of another size are first resized to 28x28. No flips, no crops."""
    dest, _ = project_for("lenet", generated_root)
    data = import_generated(dest, "data")
    train_tf, eval_tf = data.build_transforms()
    assert isinstance(train_tf, v2.Pad) and isinstance(eval_tf, v2.Pad)
    assert train_tf.padding == eval_tf.padding == 2
    sets = data.load_datasets(str(digits(tmp_path / "small", 28)), CONFIG)
    first = sorted((tmp_path / "small" / "train" / "0").glob("*.png"))[0]
    original = data.decode(data.read_file(str(first)), str(first))
    assert torch.equal(sets.train[0]["image"], v2.functional.pad(original, [2]))
    assert sets.train[0]["image"].shape == sets.val[0]["image"].shape == (1, 32, 32)
    large = data.load_datasets(str(digits(tmp_path / "large", 40)), CONFIG)
    assert large.train[0]["image"].shape == (1, 32, 32)
    images = data.load_datasets(None, CONFIG).train.datasets["image"]  # a StackDataset's
    assert torch.equal(images[:, :, :2], torch.zeros_like(images[:, :, :2]))
    readme = (dest / "README.md").read_text()
    assert "28x28" in readme and "pad 2" in readme


def test_the_synthetic_data_get_no_invented_flips(generated_root):
    """mycnn's training transforms (random crop with padding 4, flip) are the blueprint's: the
    synthetic shapes get exactly those; its evaluation transforms are none."""
    dest, _ = project_for("mycnn", generated_root)
    data = import_generated(dest, "data")
    sets = data.load_datasets(None, CONFIG)
    assert [type(t) for t in sets.train.augment.transforms] == [
        v2.RandomCrop,
        v2.RandomHorizontalFlip,
    ]
    assert isinstance(data.build_transforms()[1], v2.Identity)
    drawn = data.SyntheticShapes(10, 10, (32, 32), 3, seed=10**6)  # the validation images
    assert all(torch.equal(sets.val.images[i], drawn[i][0]) for i in range(10))


# --- honest validation ----------------------------------------------------------------------------


def test_an_image_folder_with_a_test_split_validates_on_part_of_train(generated_root, tmp_path):
    dest, _ = project_for("lenet", generated_root)
    data = import_generated(dest, "data")
    sets = data.load_datasets(str(digits(tmp_path / "d", 28, ("train", "test"), 4)), CONFIG)
    assert sets.held_out and len(sets.test) == 40
    assert len(sets.val) == 10 and len(sets.train) == 30  # one of every class's four
    assert sorted(sets.val.datasets["label"].tolist()) == list(range(10))  # a StackDataset's
    with_val = data.load_datasets(str(digits(tmp_path / "v", 28, ("train", "val"))), CONFIG)
    assert not with_val.held_out and with_val.test is None and len(with_val.val) == 30


def write_mnist(root: Path, counts: dict[str, int]) -> Path:
    """torchvision's MNIST layout (MNIST/raw/*-ubyte), with random digits."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for prefix, count in counts.items():
        images = torch.randint(0, 256, (count, 28, 28), dtype=torch.uint8)
        labels = torch.arange(count, dtype=torch.uint8) % 10
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(
            struct.pack(">IIII", 2051, count, 28, 28) + images.numpy().tobytes()
        )
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(
            struct.pack(">II", 2049, count) + labels.numpy().tobytes()
        )
    return root


def test_mnist_validates_on_part_of_its_training_split_never_on_its_test_split(
    generated_root, tmp_path, capsys
):
    dest, _ = project_for("lenet", generated_root)
    data, train = import_generated(dest, "data"), import_generated(dest, "train")
    root = write_mnist(tmp_path / "mnist", {"train": 80, "t10k": 20})
    sets = data.load_datasets(str(root), CONFIG)
    assert sets.held_out and len(sets.test) == 20 and len(sets.val) == 20 and len(sets.train) == 60
    out = tmp_path / "run"
    flags = ["--data-root", str(root), "--device", "cpu", "--epochs", "1", "--batch-size", "8",
             "--out", str(out)]  # fmt: skip
    train.main(flags)
    assert "(70 train, 10 val, 20 test)" in capsys.readouterr().out  # data.val_split 0.1
    evaluate = import_generated(dest, "evaluate")
    evaluate.main(["--checkpoint", str(out / "last.pt"), "--split", "test"])
    report = capsys.readouterr().out
    assert "on the test split" in report and "of 20)" in report


def test_val_split_is_never_silently_ignored(generated_root, tmp_path):
    dest, _ = project_for("lenet", generated_root)
    train = import_generated(dest, "train")
    root = digits(tmp_path / "d", 28)  # train/ and val/: a validation split of its own
    flags = ["--data-root", str(root), "--device", "cpu", "--val-split", "0.2", "--epochs", "1"]
    with pytest.raises(SystemExit, match="--val-split: the data has its own validation split"):
        train.main([*flags, "--out", str(tmp_path / "out")])
