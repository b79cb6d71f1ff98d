"""Data for lenet: labelled images held in memory as uint8 tensors, and their loaders.

Sources: synthetic shapes (without --data-root), MNIST in torchvision's layout, or an image folder
(train/CLASS/*.png, with val/ and test/ where they exist). Without val/, validation is held out of
the training split (data.val_split, by class); a test split is never used in training. Files of
another size than 28x28 (MNIST's size, which the blueprint's transforms take) are resized to it,
then go through the blueprint's transforms: pad 2 for training; pad 2 for evaluation.
"""

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset, Sampler, StackDataset
from torchvision.datasets.folder import IMG_EXTENSIONS, find_classes, make_dataset
from torchvision.io import ImageReadMode, decode_image, read_file
from torchvision.transforms import v2

from .synthetic import SyntheticShapes

SOURCE_SIZE = (28, 28)  # MNIST's images, which the transforms make the model's input
CHANNELS = 1
MEAN, STD = (0.1307,), (0.3081,)


class DataError(Exception):
    """A problem with the data that the user can fix: training stops with this message."""


def build_transforms() -> tuple[v2.Transform, v2.Transform]:
    """The blueprint's training and evaluation transforms of uint8 image tensors."""
    return v2.Pad(2), v2.Pad(2)  # training, evaluation


def normalize(images: torch.Tensor) -> torch.Tensor:
    """uint8 images (N, C, H, W) on any device -> normalised float32."""
    mean = torch.tensor(MEAN, device=images.device).view(1, -1, 1, 1)
    std = torch.tensor(STD, device=images.device).view(1, -1, 1, 1)
    return images.float().div_(255).sub_(mean).div_(std)


def decode(data: torch.Tensor, path: str) -> torch.Tensor:
    """An image file's bytes as a uint8 tensor (C, H, W) with the model's channels."""
    try:
        return decode_image(data, mode=ImageReadMode.GRAY)
    except RuntimeError as error:
        raise DataError(f"cannot decode image {path}: {error}") from None


class SeededSampler(Sampler):
    """This process's share of the data in a seeded order: for training a new order each epoch, the
    same number of steps on every rank; for evaluation every sample once. set_epoch's `start` skips
    samples done before a resume."""

    def __init__(self, size: int, seed: int, shuffle: bool, rank: int = 0, world: int = 1) -> None:
        self.size, self.seed, self.shuffle, self.rank, self.world = size, seed, shuffle, rank, world
        self.epoch = self.start = 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        self.epoch, self.start = epoch, start

    def indices(self) -> list[int]:
        if not self.shuffle:
            return list(range(self.rank, self.size, self.world))
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(self.size, generator=generator).tolist()
        return order[self.rank :: self.world][: self.size // self.world]

    def __iter__(self):
        return iter(self.indices()[self.start :])

    def __len__(self) -> int:
        return max(0, len(self.indices()) - self.start)


def make_loader(dataset, sampler: SeededSampler, batch_size: int, pin_memory: bool):
    # Batches of a tensor in memory, transformed already: worker processes would only copy them.
    # A generator of the loader's own, not the global one, which dropout draws from: exact resume.
    options = {"pin_memory": pin_memory, "drop_last": sampler.shuffle}  # training: full batches
    return DataLoader(dataset, batch_size, sampler=sampler, generator=torch.Generator(), **options)


def split(labels: list[int], fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Indices for training and validation: a seeded `fraction` of every class held out."""
    generator = torch.Generator().manual_seed(seed)
    train, val = [], []
    for label in sorted(set(labels)):
        members = [index for index, other in enumerate(labels) if other == label]
        order = torch.randperm(len(members), generator=generator).tolist()
        cut = max(1, round(len(members) * fraction)) if len(members) > 1 else 0
        val += [members[i] for i in order[:cut]]
        train += [members[i] for i in order[cut:]]
    return sorted(train), sorted(val)


def data_folder(root: str) -> Path:
    """--data-root as a folder, there and not empty."""
    path = Path(root).expanduser()
    if not path.is_dir():
        raise DataError(f"--data-root {root}: no such folder")
    if not any(path.iterdir()):
        raise DataError(f"--data-root {root} is empty")
    return path


def scan_splits(root: Path) -> tuple[list[str], dict[str, list[tuple[str, int]]]]:
    """The classes and (path, label) samples of train/, val/ and test/ (or of class folders alone:
    training), as torchvision's ImageFolder finds them; every split with the same classes."""
    folders = {split: root / split for split in ("train", "val", "test") if (root / split).is_dir()}
    if folders and "train" not in folders:
        raise DataError(f"{root} has {'/ and '.join(folders)}/ but no train/")
    classes, splits = None, {}
    for split, folder in (folders or {"train": root}).items():
        try:
            names, index = find_classes(folder)
            splits[split] = make_dataset(folder, index, IMG_EXTENSIONS)
        except FileNotFoundError as error:
            raise DataError(f"{folder}: {error}") from None
        if classes is not None and names != classes:
            only = sorted(set(classes) ^ set(names))
            raise DataError(f"the class folders of train/ and {split}/ differ: {', '.join(only)}")
        classes = classes or names
    return classes, splits


@dataclass
class DataSets:
    train: Dataset
    val: Dataset
    test: Dataset | None  # the source's test split, never used in training
    classes: list[str]
    description: str
    held_out: bool  # validation was held out of the training split (data.val_split)


def load_datasets(root: str | None, config: dict, seed: int = 0, download=False) -> DataSets:
    """The training, validation and test sets; without `root`, synthetic."""
    height, width = SOURCE_SIZE
    if root is None:
        classes, splits = synthetic_splits(config["synthetic"], seed, height, width)
        where = f"synthetic shapes, {len(classes)} classes"
    elif download or (Path(root).expanduser() / "MNIST").is_dir():
        classes, splits = torchvision_splits(Path(root).expanduser(), download, height, width)
        where = f"MNIST at {root}"
    else:
        classes, samples = scan_splits(data_folder(root))
        splits = {split: read_images(found, height, width) for split, found in samples.items()}
        where = f"image folders at {root}"
    held_out = "val" not in splits
    if held_out:
        images, labels = splits["train"]
        train, val = split(labels.tolist(), config["val_split"], seed)
        splits |= {"train": (images[train], labels[train]), "val": (images[val], labels[val])}
    train_tf, eval_tf = build_transforms()
    sets = {
        name: StackDataset(image=(train_tf if name == "train" else eval_tf)(images), label=labels)
        for name, (images, labels) in splits.items()
    }
    counts = ", ".join(f"{len(sets[n])} {n}" for n in ("train", "val", "test") if n in sets)
    description = f"{where} ({counts})"
    return DataSets(sets["train"], sets["val"], sets.get("test"), classes, description, held_out)


def fit(images: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Images (..., C, H, W) resized to height x width where they have another size."""
    if images.shape[-2:] == (height, width):
        return images
    return v2.functional.resize(images, [height, width], antialias=True)


def read_images(samples: list, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The samples' image files, decoded on every core at once into one tensor, and their labels."""

    def read(path: str) -> torch.Tensor:
        return fit(decode(read_file(path), path), height, width)

    with ThreadPoolExecutor(os.cpu_count()) as pool:
        images = list(pool.map(read, [path for path, _ in samples]))
    return torch.stack(images), torch.tensor([label for _, label in samples])


def torchvision_splits(root: Path, download: bool, height: int, width: int) -> tuple[list, dict]:
    """MNIST's classes, and its training and test splits as uint8 tensors (torchvision's)."""
    from torchvision import datasets

    splits = {}
    for name in ("train", "test"):
        try:
            found = datasets.MNIST(root, train=name == "train", download=download)
        except (RuntimeError, OSError) as error:
            fix = "check the network" if download else "pass --download to fetch it there"
            fix += ", or leave out --data-root"
            raise DataError(f"cannot load MNIST from {root}: {error}; {fix}") from None
        images = found.data.unsqueeze(1)  # (N, 1, 28, 28)
        splits[name] = (fit(images, height, width), torch.as_tensor(found.targets))
    return list(found.classes), splits


def synthetic_splits(sizes: dict, seed: int, height: int, width: int) -> tuple[list, dict]:
    """The built-in synthetic shapes, the validation images from another seed."""
    splits = {}
    for name, shapes_seed in (("train", seed), ("val", seed + 10**6)):
        shapes = SyntheticShapes(sizes[f"{name}_size"], 10, (height, width), CHANNELS, shapes_seed)
        images, labels = zip(*(shapes[i] for i in range(len(shapes))))
        splits[name] = (torch.stack(images), torch.tensor(labels))
    return shapes.classes, splits
