"""Data for mycnn: labelled images held in memory, and the loaders that feed training.

Sources: the built-in synthetic shapes (without --data-root), CIFAR-10 in torchvision's layout, or
an image folder (train/CLASS/*.png, with val/ and test/ where they exist), decoded once into memory.
Without a validation split, one is held out of the training split (data.val_split, by class); a test
split is never used in training. Images are uint8 tensors (C x H x W) of 32x32 pixels: CIFAR-10's
size, which the blueprint's transforms take; a file of another size is resized to it, the one step
the blueprint does not name. Then the blueprint's transforms: random_crop (padding 4),
random_horizontal_flip for training; none for evaluation. Random choices are seeded per sample, from
(seed, epoch, index): a run sees the same images with any number of workers, and resumes exactly
even in the middle of an epoch. Transforms without random choices run once, on the whole tensor;
conversion to float and normalisation run on the training device (`normalize`).
"""

import os
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset, Sampler
from torchvision.io import ImageReadMode, decode_image, read_file
from torchvision.transforms import v2

from .synthetic import SyntheticShapes, shape_class_names

IMAGE_SIZE = (32, 32)  # the model's input, height x width
SOURCE_SIZE = (32, 32)  # CIFAR-10's images, which the transforms make the model's input
CHANNELS = 3
MEAN, STD = (0.4914, 0.4822, 0.4465), (0.247, 0.2435, 0.2616)
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff")


class DataError(Exception):
    """A problem with the data that the user can fix: training stops with this message."""


def build_transforms() -> tuple[v2.Transform, v2.Transform]:
    """The blueprint's training and evaluation transforms of uint8 image tensors."""
    train = v2.Compose([v2.RandomCrop(32, padding=4), v2.RandomHorizontalFlip()])
    evaluation = v2.Identity()
    return train, evaluation


def normalize(images: torch.Tensor) -> torch.Tensor:
    """uint8 images (N, C, H, W) on any device -> normalised float32."""
    mean = torch.tensor(MEAN, device=images.device).view(1, -1, 1, 1)
    std = torch.tensor(STD, device=images.device).view(1, -1, 1, 1)
    return images.float().div_(255).sub_(mean).div_(std)


def augment(transform: v2.Transform, image: torch.Tensor, seed: int) -> torch.Tensor:
    """`transform` with its random choices drawn from the sample's seed: the same image in any
    worker, on any rank, after any resume. Only the CPU generator is seeded (torch.manual_seed
    would seed CUDA too, at ten times the cost of the transform)."""
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)
        return transform(image)


def decode(data: torch.Tensor, path: str) -> torch.Tensor:
    """An image file's bytes as a uint8 tensor (C, H, W) with the model's channels."""
    try:
        image = decode_image(data, mode=ImageReadMode.RGB)
    except RuntimeError as error:
        raise DataError(f"cannot decode image {path}: {error}") from None
    return image


class SeededSampler(Sampler):
    """This process's share of the data, in a seeded order (each index with the seed of its
    augmentation). Training (`shuffle`): a new order every epoch, cut so that every DDP rank takes
    the same number of steps. Evaluation: every sample once over all ranks, no padding.
    `set_epoch(epoch, start)` skips the epoch's first `start` samples (a resumed run)."""

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
        base = (self.seed * 1_000_003 + self.epoch) * 1_000_000_007
        return ((index, (base + index) % 2**63) for index in self.indices()[self.start :])

    def __len__(self) -> int:
        return max(0, len(self.indices()) - self.start)


def make_loader(
    dataset: Dataset, sampler: SeededSampler, batch_size: int, workers: int, pin_memory: bool
) -> DataLoader:
    workers = min(workers, os.cpu_count() or 1)  # more would only compete for the cores
    return DataLoader(
        dataset,
        batch_size,
        sampler=sampler,
        num_workers=workers,
        pin_memory=pin_memory,
        drop_last=sampler.shuffle,  # training steps take full batches
        persistent_workers=workers > 0,
        generator=torch.Generator(),  # not the global one, which dropout draws from: exact resume
    )


def split(labels: list[int], fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Sample indices split for training and validation: a seeded `fraction` of every class (at
    least one sample of a class with two or more) is held out."""
    by_class = defaultdict(list)
    for index, label in enumerate(labels):
        by_class[label].append(index)
    generator = torch.Generator().manual_seed(seed)
    train, val = [], []
    for label in sorted(by_class):
        members = by_class[label]
        order = torch.randperm(len(members), generator=generator).tolist()
        cut = max(1, round(len(members) * fraction)) if len(members) > 1 else 0
        val += [members[i] for i in order[:cut]]
        train += [members[i] for i in order[cut:]]
    return sorted(train), sorted(val)


def scan_folder(folder: Path) -> tuple[list[str], list[tuple[str, int]]]:
    """The class names (sub-folders, sorted) and (image path, label) of every image."""
    classes = sorted(d.name for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not classes:
        raise DataError(f"{folder} has no class folders (expected {folder}/CLASS/IMAGE.jpg)")
    samples = []
    for label, name in enumerate(classes):
        files = sorted(
            f for f in (folder / name).rglob("*") if f.suffix.lower() in IMAGE_EXTENSIONS
        )
        if not files:
            raise DataError(f"the class folder {folder / name} has no images")
        samples += [(str(f), label) for f in files]
    return classes, samples


def scan_splits(root: Path) -> tuple[list[str], dict[str, list[tuple[str, int]]]]:
    """The classes and samples of an image folder's splits: train/, with val/ and test/ where
    they exist (or class folders alone: a training split); every split with the same classes."""
    folders = {split: root / split for split in ("train", "val", "test") if (root / split).is_dir()}
    if folders and "train" not in folders:
        raise DataError(f"{root} has {'/ and '.join(folders)}/ but no train/")
    scanned = {split: scan_folder(folder) for split, folder in (folders or {"train": root}).items()}
    classes = scanned["train"][0]
    for split, (names, _) in scanned.items():
        if names != classes:
            only = sorted(set(classes) ^ set(names))
            raise DataError(f"the class folders of train/ and {split}/ differ: {', '.join(only)}")
    return classes, {split: samples for split, (_, samples) in scanned.items()}


@dataclass
class DataSets:
    train: Dataset
    val: Dataset
    test: Dataset | None  # the source's test split, never used in training
    classes: list[str]
    description: str
    held_out: bool  # validation was held out of the training split (data.val_split)


class TensorImages(Dataset):
    """Images held in memory as one uint8 tensor (N, C, H, W), with their labels. `augment`,
    the training transforms, runs per sample with the sample's seed; transforms without random
    choices ran once, on the whole tensor."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, augment=None) -> None:
        self.images, self.labels, self.augment = images, labels, augment

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, key: tuple[int, int]) -> dict:
        index, seed = key
        image = self.images[index]
        if self.augment is not None:
            image = augment(self.augment, image, seed)
        return {"image": image, "label": self.labels[index]}


def load_datasets(
    root: str | None, config: dict, seed: int = 0, download: bool = False
) -> DataSets:
    """The training, validation and test sets: without `root`, the built-in synthetic shapes;
    with it, CIFAR-10 in torchvision's layout or an image folder."""
    height, width = SOURCE_SIZE
    if root is None:
        classes, splits = synthetic_splits(config["synthetic"], seed, height, width)
        return in_memory(splits, classes, config, seed, f"synthetic shapes, {len(classes)} classes")
    path = Path(root).expanduser()
    if download:
        path.mkdir(parents=True, exist_ok=True)
    if download or (path / "cifar-10-batches-py").is_dir():
        classes, splits = torchvision_splits(path, download, height, width)
        return in_memory(splits, classes, config, seed, f"CIFAR-10 at {path}")
    if not path.is_dir():
        raise DataError(f"--data-root {root}: no such folder")
    if not any(path.iterdir()):
        raise DataError(f"--data-root {root} is empty")
    classes, samples = scan_splits(path)
    splits = {split: read_images(found, height, width) for split, found in samples.items()}
    return in_memory(splits, classes, config, seed, f"image folders at {path}")


def fit(images: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Images (..., C, H, W) resized to height x width where they have another size: the one
    step the blueprint does not name."""
    if images.shape[-2:] == (height, width):
        return images
    return v2.functional.resize(images, [height, width], antialias=True)


def read_images(
    samples: list[tuple[str, int]], height: int, width: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Image files decoded into one tensor, on every core at once."""

    def read(path: str) -> torch.Tensor:
        return fit(decode(read_file(path), path), height, width)

    with ThreadPoolExecutor(os.cpu_count()) as pool:
        images = list(pool.map(read, [path for path, _ in samples]))
    return torch.stack(images), torch.tensor([label for _, label in samples])


def torchvision_splits(
    root: Path, download: bool, height: int, width: int
) -> tuple[list[str], dict]:
    """CIFAR-10's classes, and its training and test splits as uint8 tensors (torchvision's)."""
    from torchvision import datasets

    try:
        found = {
            name: datasets.CIFAR10(root, train=name == "train", download=download)
            for name in ("train", "test")
        }
    except (RuntimeError, OSError) as error:
        fix = "check the network" if download else "pass --download to fetch it there"
        raise DataError(
            f"cannot load CIFAR-10 from {root}: {error}\n{fix}, or leave out --data-root"
        ) from None
    splits = {}
    for name, split in found.items():
        images = torch.from_numpy(split.data).permute(0, 3, 1, 2)  # (N, 3, 32, 32)
        splits[name] = (fit(images, height, width), torch.as_tensor(split.targets))
    return list(found["train"].classes), splits


def synthetic_splits(sizes: dict, seed: int, height: int, width: int) -> tuple[list[str], dict]:
    """The built-in synthetic shapes, the validation images from another seed."""
    classes, splits = shape_class_names(10), {}
    for name, offset in (("train", 0), ("val", 10**6)):
        shapes = SyntheticShapes(
            sizes[f"{name}_size"], len(classes), (height, width), CHANNELS, seed + offset
        )
        images, labels = zip(*(shapes[i] for i in range(len(shapes))))
        splits[name] = (torch.stack(images), torch.tensor(labels))
    return classes, splits


def in_memory(splits: dict, classes: list[str], config: dict, seed: int, where: str) -> DataSets:
    """DataSets from the images and labels of each split: without a validation split, one is
    held out of the training split (the test split, where there is one, stays untouched)."""
    held_out = "val" not in splits
    if held_out:
        images, labels = splits["train"]
        train, val = split(labels.tolist(), config["val_split"], seed)
        splits |= {"train": (images[train], labels[train]), "val": (images[val], labels[val])}
    train_tf, eval_tf = build_transforms()
    images, labels = splits.pop("train")
    sets = {"train": TensorImages(images, labels, augment=train_tf)}
    sets |= {
        name: TensorImages(eval_tf(images), labels) for name, (images, labels) in splits.items()
    }
    counts = ", ".join(
        f"{len(sets[name])} {name}" for name in ("train", "val", "test") if name in sets
    )
    return DataSets(
        sets["train"], sets["val"], sets.get("test"), classes, f"{where} ({counts})", held_out
    )
