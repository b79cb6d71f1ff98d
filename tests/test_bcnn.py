"""B-CNN: the CUB-200-2011 loader on a tiny tree in the official layout, and the two training
phases (fc only, then everything) at a reduced width and image size on a CPU."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml
from generated import REPO, import_generated, project_for
from torchvision.io import write_jpeg

from scaffold.blueprint import load_blueprint
from scaffold.render import new_project

CLASSES = ["001.Black_footed_Albatross", "002.Laysan_Albatross", "003.Sooty_Albatross"]


def make_cub(root: Path, per_class: int = 4, size: tuple[int, int] = (40, 56)) -> Path:
    """A CUB_200_2011 folder: 3 classes, `per_class` JPEGs each, every other image for training."""
    cub = root / "CUB_200_2011"
    images, labels, split, boxes = [], [], [], []
    torch.manual_seed(0)
    image_id = 0
    for label, name in enumerate(CLASSES, start=1):
        (cub / "images" / name).mkdir(parents=True)
        for i in range(per_class):
            image_id += 1
            relative = f"{name}/{name.split('.')[1]}_{i:04d}.jpg"
            picture = torch.randint(0, 256, (3, *size), dtype=torch.uint8)
            write_jpeg(picture, str(cub / "images" / relative), quality=90)
            images.append(f"{image_id} {relative}")
            labels.append(f"{image_id} {label}")
            split.append(f"{image_id} {int(i % 2 == 0)}")
            boxes.append(f"{image_id} 4.0 6.0 20.0 16.0")
    (cub / "images.txt").write_text("\n".join(images) + "\n")
    (cub / "image_class_labels.txt").write_text("\n".join(labels) + "\n")
    (cub / "train_test_split.txt").write_text("\n".join(split) + "\n")
    (cub / "classes.txt").write_text("\n".join(f"{i} {n}" for i, n in enumerate(CLASSES, 1)) + "\n")
    (cub / "bounding_boxes.txt").write_text("\n".join(boxes) + "\n")
    return cub


@pytest.fixture(scope="module")
def bcnn(tmp_path_factory):
    dest, _ = project_for("bcnn_vgg16", str(tmp_path_factory.mktemp("bcnn")))
    return import_generated(dest, "data"), import_generated(dest, "train")


CONFIG = {
    "bounding_boxes": False,
    "val_split": 0.5,
    "image_size": [32, 32],
    "synthetic": {"train_size": 8, "val_size": 8},
}


def test_cub_loads_the_official_split_labels_and_class_names(bcnn, tmp_path):
    """The official test split is the test set; validation is held out of the training split,
    by class: training never selects on the test split."""
    data, _ = bcnn
    cub = make_cub(tmp_path)
    for root in (cub, tmp_path):  # the CUB_200_2011 folder, or the folder it was unpacked in
        sets = data.load_datasets(str(root), CONFIG)
        assert "CUB-200-2011" in sets.description and sets.held_out
        assert len(sets.train) == 3 and len(sets.val) == 3 and len(sets.test) == 6
        assert sets.classes == ["Black footed Albatross", "Laysan Albatross", "Sooty Albatross"]
        assert sorted(label for _, label in sets.train.samples) == [0, 1, 2]
        assert sorted(label for _, label in sets.val.samples) == [0, 1, 2]
        train = {path for path, _ in sets.train.samples + sets.val.samples}
        assert not train & {path for path, _ in sets.test.samples}
        assert all("_0000" in p or "_0002" in p for p in train)  # every other image trains
        item = sets.val[(0, 0)]
        assert item["image"].shape == (3, 32, 32) and item["image"].dtype == torch.uint8


def test_cub_bounding_boxes_crop_before_the_transforms(bcnn, tmp_path):
    data, _ = bcnn
    sets = data.load_datasets(str(make_cub(tmp_path)), {**CONFIG, "bounding_boxes": True})
    path, _ = sets.train.samples[0]
    assert sets.train.boxes[path] == (4.0, 6.0, 20.0, 16.0)  # boxes by file
    assert sets.train[(0, 0)]["image"].shape == (3, 32, 32)


@pytest.mark.parametrize("missing", ["train_test_split.txt", "classes.txt", "images"])
def test_incomplete_cub_names_what_is_missing(bcnn, tmp_path, missing):
    data, _ = bcnn
    cub = make_cub(tmp_path)
    target = cub / missing
    if target.is_dir():
        import shutil

        shutil.rmtree(target)
    else:
        target.unlink()
    with pytest.raises(data.DataError, match=missing):
        data.load_datasets(str(cub), CONFIG)


def test_missing_image_files_are_named(bcnn, tmp_path):
    data, _ = bcnn
    cub = make_cub(tmp_path)
    victim = next((cub / "images" / CLASSES[1]).iterdir())
    victim.unlink()
    with pytest.raises(data.DataError, match=victim.name):
        data.load_datasets(str(cub), CONFIG)


def test_an_image_folder_tree_works_too(bcnn, tmp_path):
    data, _ = bcnn
    for split in ("train", "val"):
        for name in ("cardinal", "sparrow"):
            folder = tmp_path / "birds" / split / name
            folder.mkdir(parents=True)
            for i in range(2):
                write_jpeg(
                    torch.randint(0, 256, (3, 30, 40), dtype=torch.uint8), str(folder / f"{i}.jpg")
                )
    sets = data.load_datasets(str(tmp_path / "birds"), CONFIG)
    assert "image folders" in sets.description and sets.classes == ["cardinal", "sparrow"]
    assert len(sets.train) == 4 and len(sets.val) == 4 and sets.test is None and not sets.held_out


def small_bcnn_blueprint(tmp_path: Path) -> Path:
    """The bundled B-CNN with overrides for a CPU test: VGG-16 at 1/16 of the width, no pretrained."""
    blueprint = yaml.safe_load((REPO / "blueprints" / "bcnn_vgg16.yaml").read_text())
    vgg = blueprint["model"]["layers"][0]["vgg"]
    vgg["width"] = 0.0625
    del vgg["pretrained"]
    path = tmp_path / "bcnn_small.yaml"
    path.write_text(yaml.safe_dump(blueprint, sort_keys=False))
    return path


def test_two_phases_train_only_fc_first_then_everything(tmp_path, monkeypatch):
    dest = tmp_path / "bcnn_small"
    new_project(load_blueprint(small_bcnn_blueprint(tmp_path)), dest, "bcnn_small", git=False)
    train = import_generated(dest, "train")
    snapshots, optimizers = [], []
    set_trainable, make_optimizer = train.set_trainable, train.make_optimizer

    def snapshot_then_set(model, phase):  # the weights as each phase starts
        snapshots.append({k: v.detach().clone() for k, v in model.state_dict().items()})
        return set_trainable(model, phase)

    def keep_optimizer(*args, **kwargs):
        optimizers.append(make_optimizer(*args, **kwargs))
        return optimizers[-1]

    monkeypatch.setattr(train, "set_trainable", snapshot_then_set)
    monkeypatch.setattr(train, "make_optimizer", keep_optimizer)
    cub = make_cub(tmp_path, per_class=6)
    out = tmp_path / "out"
    train.main(["--data-root", str(cub), "--epochs", "1", "--batch-size", "3", "--image-size", "32",
                "--workers", "0", "--device", "cpu", "--out", str(out)])  # fmt: skip
    final = torch.load(out / "last.pt", weights_only=False)["model"]
    start, after_phase1 = snapshots

    def changed(before, after, prefix):
        keys = [k for k in before if k.startswith(prefix) and before[k].is_floating_point()]
        return [k for k in keys if not torch.equal(before[k], after[k])], keys

    moved, backbone = changed(start, after_phase1, "features.")
    assert backbone and not moved, "phase 1 changed the frozen VGG features"
    moved, fc = changed(start, after_phase1, "fc.")
    assert moved == fc, "phase 1 did not train fc"
    moved, _ = changed(after_phase1, final, "features.")
    assert moved == backbone, "phase 2 did not train the VGG features"
    moved, _ = changed(after_phase1, final, "fc.")
    assert moved == fc
    # frozen parameters: no gradient, no optimizer state
    assert len(optimizers[0].state) == 2  # fc.weight and fc.bias only


def test_frozen_batch_norm_keeps_its_statistics(tmp_path, monkeypatch):
    """A phase that trains only the classifier leaves BN running statistics where they were."""
    blueprint = yaml.safe_load((REPO / "blueprints" / "vgg11.yaml").read_text())
    blueprint["model"]["layers"][0]["vgg"]["width"] = 0.125
    blueprint["train"].pop("epochs")
    blueprint["train"]["phases"] = [{"name": "head", "epochs": 1, "trainable": ["classifier"]}]
    path = tmp_path / "vgg_small.yaml"
    path.write_text(yaml.safe_dump(blueprint, sort_keys=False))
    dest = tmp_path / "vgg_small"
    new_project(load_blueprint(path), dest, "vgg_small", git=False)
    train = import_generated(dest, "train")
    before = {}
    set_trainable = train.set_trainable

    def remember(model, phase):
        before.update({k: v.clone() for k, v in model.state_dict().items() if "running" in k})
        return set_trainable(model, phase)

    monkeypatch.setattr(train, "set_trainable", remember)
    out = tmp_path / "out"
    train.main(["--dataset", "synthetic", "--epochs", "1", "--batch-size", "8", "--limit-batches", "3",
                "--workers", "0", "--device", "cpu", "--out", str(out)])  # fmt: skip
    after = torch.load(out / "last.pt", weights_only=False)["model"]
    assert before and all(torch.equal(before[k], after[k]) for k in before)


def test_batch_norm_without_parameters_keeps_learning_in_a_phase_that_trains_everything(bcnn):
    """freeze_norm_statistics freezes the batch norms of frozen modules, and only those: a
    BatchNorm(affine=False) has no parameters, but it is not frozen."""
    _, train = bcnn
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4, affine=False))
    model.train()
    train.freeze_norm_statistics(model, {"trainable": "all", "frozen": []})
    assert model[1].training
    train.freeze_norm_statistics(model, {"trainable": "all", "frozen": ["1"]})
    assert not model[1].training
    model.train()
    train.freeze_norm_statistics(model, {"trainable": ["0"], "frozen": []})
    assert not model[1].training
