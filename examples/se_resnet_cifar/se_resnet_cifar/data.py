"""Data for se_resnet_cifar: labelled images held in memory as uint8 tensors, and their loaders.

Sources: synthetic shapes (without --data-root), CIFAR-10 in torchvision's layout, or an image
folder (train/CLASS/*.png, with val/ and test/ where they exist). Without val/, validation is held
out of the training split (data.val_split, by class); a test split is never used in training. Files
of another size than 32x32 (CIFAR-10's size, which the blueprint's transforms take) are resized to
it, then go through the blueprint's transforms: random_crop (padding 4), random_horizontal_flip for
training; none for evaluation. Random choices are seeded per sample: exact resume with any number of
workers.
"""

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset, Sampler
from torchvision.datasets.folder import IMG_EXTENSIONS, find_classes, make_dataset
from torchvision.io import ImageReadMode, decode_image, read_file
from torchvision.transforms import v2

from .synthetic import SyntheticShapes

IMAGE_SIZE = (32, 32)  # the model's input, height x width
SOURCE_SIZE = (32, 32)  # CIFAR-10's images, which the transforms make the model's input
CHANNELS = 3
MEAN, STD = (0.4914, 0.4822, 0.4465), (0.247, 0.2435, 0.2616)


class DataError(Exception):
    """A problem with the data that the user can fix: training stops with this message."""


def build_transforms(size: tuple[int, int] = IMAGE_SIZE) -> tuple[v2.Transform, v2.Transform]:
    """The blueprint's training and evaluation transforms of uint8 image tensors, their sizes
    scaled to the run's image `size`."""
    train = v2.Compose([v2.RandomCrop(size, padding=4), v2.RandomHorizontalFlip()])
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
        return decode_image(data, mode=ImageReadMode.RGB)
    except RuntimeError as error:
        raise DataError(f"cannot decode image {path}: {error}") from None


class SeededSampler(Sampler):
    """This process's share of the data in a seeded order, each index with its augmentation's seed:
    for training a new order each epoch, the same number of steps on every rank; for evaluation
    every sample once. set_epoch's `start` skips samples done before a resume."""

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


def make_loader(dataset, sampler: SeededSampler, batch_size: int, workers: int, pin_memory: bool):
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


def load_datasets(root: str | None, config: dict, seed: int = 0, download=False) -> DataSets:
    """The training, validation and test sets (config["image_size"]); without `root`, synthetic."""
    size = tuple(config["image_size"])
    height, width = source_size(size)
    if root is None:
        classes, splits = synthetic_splits(config["synthetic"], seed, height, width)
        where = f"synthetic shapes, {len(classes)} classes"
    elif download or (Path(root).expanduser() / "cifar-10-batches-py").is_dir():
        classes, splits = torchvision_splits(Path(root).expanduser(), download, height, width)
        where = f"CIFAR-10 at {root}"
    else:
        classes, samples = scan_splits(data_folder(root))
        splits = {split: read_images(found, height, width) for split, found in samples.items()}
        where = f"image folders at {root}"
    held_out = "val" not in splits
    if held_out:
        images, labels = splits["train"]
        train, val = split(labels.tolist(), config["val_split"], seed)
        splits |= {"train": (images[train], labels[train]), "val": (images[val], labels[val])}
    train_tf, eval_tf = build_transforms(size)
    images, labels = splits.pop("train")
    sets = {"train": TensorImages(images, labels, augment=train_tf)}
    sets |= {
        name: TensorImages(eval_tf(images), labels) for name, (images, labels) in splits.items()
    }
    counts = ", ".join(f"{len(sets[n])} {n}" for n in ("train", "val", "test") if n in sets)
    description = f"{where} ({counts})"
    return DataSets(sets["train"], sets["val"], sets.get("test"), classes, description, held_out)


def source_size(size: tuple[int, int]) -> tuple[int, int]:
    """SOURCE_SIZE at the run's image size."""
    return tuple(round(n * size[0] / IMAGE_SIZE[0]) for n in SOURCE_SIZE)


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
    """CIFAR-10's classes, and its training and test splits as uint8 tensors (torchvision's)."""
    from torchvision import datasets

    splits = {}
    for name in ("train", "test"):
        try:
            found = datasets.CIFAR10(root, train=name == "train", download=download)
        except (RuntimeError, OSError) as error:
            fix = "check the network" if download else "pass --download to fetch it there"
            fix += ", or leave out --data-root"
            raise DataError(f"cannot load CIFAR-10 from {root}: {error}; {fix}") from None
        images = torch.from_numpy(found.data).permute(0, 3, 1, 2)  # (N, 3, 32, 32)
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
