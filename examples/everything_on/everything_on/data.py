"""Data for everything_on: labelled image files, and the loaders that feed training.

Sources: the built-in synthetic shapes (without --data-root), or an image folder (train/CLASS/*.jpg,
with val/ and test/ where they exist). Without a validation split, one is held out of the training
split (data.val_split, by class); a test split is never used in training. Files are read and decoded
in the loader workers (or, with --decode gpu, decoded on the GPU in batches) and go through the
blueprint's transforms: random_resized_crop, random_horizontal_flip, trivial_augment 31,
random_erasing 0.25 for training; resize 36, center_crop for evaluation. Random choices are seeded
per sample, from (seed, epoch, index): a run sees the same images with any number of workers, and
resumes exactly even in the middle of an epoch. Conversion to float and normalisation run on the
training device (`normalize`).
"""

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset, Sampler
from torchvision.datasets.folder import IMG_EXTENSIONS, find_classes, make_dataset
from torchvision.io import ImageReadMode, decode_image, decode_jpeg, read_file
from torchvision.transforms import v2

from .synthetic import SyntheticShapes

IMAGE_SIZE = (32, 32)  # the model's input, height x width
CHANNELS = 3
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


class DataError(Exception):
    """A problem with the data that the user can fix: training stops with this message."""

    def __str__(self) -> str:
        # raised in a loader worker, it arrives with the worker's traceback: keep the message
        text = super().__str__().strip()
        return text.splitlines()[-1].split("DataError: ", 1)[-1] if "Traceback" in text else text


def build_transforms(size: tuple[int, int] = IMAGE_SIZE) -> tuple[v2.Transform, v2.Transform]:
    """The blueprint's training and evaluation transforms of uint8 image tensors, their sizes
    scaled to the run's image `size`."""

    def scaled(pixels: int) -> int:
        return round(pixels * size[0] / IMAGE_SIZE[0])

    train = v2.Compose(
        [
            v2.RandomResizedCrop(size, antialias=True),
            v2.RandomHorizontalFlip(),
            v2.TrivialAugmentWide(interpolation=v2.InterpolationMode.BILINEAR),
            v2.RandomErasing(p=0.25, value=[124, 116, 104]),
        ]
    )
    evaluation = v2.Compose([v2.Resize(scaled(36), antialias=True), v2.CenterCrop(size)])
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


def image_item(path: str, transform, seed: int, decode_on="cpu") -> dict:
    """An image file as a sample: its transformed pixels, or (`decode_on="gpu"`) what the GPU
    needs to decode and transform it in a batch."""
    data = read_file(path)
    if decode_on == "gpu":
        if not is_jpeg(data):  # PNG and friends: decoded here, transformed there
            data = decode(data, path)
        return {"data": data, "seed": seed, "path": path}
    image = decode(data, path)
    return {"image": augment(transform, image, seed)}


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


def collate(items: list[dict | None]) -> dict:
    """Stack tensors, keep lists of what cannot be stacked (JPEG bytes, strings); undecodable
    samples (None) are counted in "skipped"."""
    kept = [item for item in items if item is not None]
    batch = {"skipped": len(items) - len(kept)}
    for key in kept[0] if kept else []:
        values = [item[key] for item in kept]
        if isinstance(values[0], torch.Tensor) and all(v.shape == values[0].shape for v in values):
            batch[key] = torch.stack(values)
        elif isinstance(values[0], (int, float)):
            batch[key] = torch.tensor(values)
        else:
            batch[key] = values
    return batch


def make_loader(dataset, sampler: SeededSampler, batch_size: int, workers: int, pin_memory: bool):
    workers = min(workers, os.cpu_count() or 1)  # more would only compete for the cores
    return DataLoader(
        dataset,
        batch_size,
        sampler=sampler,
        num_workers=workers,
        collate_fn=collate,
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


class ImageFiles(Dataset):
    """Image files with labels, read and decoded in the loader workers (with `decode="gpu"`, JPEG
    files as bytes, for `decode_on_device`), then transformed."""

    skip_bad = False  # True: an undecodable file is skipped (and counted), not an error

    def __init__(self, samples: list, transform: v2.Transform, decode: str = "cpu") -> None:
        self.samples, self.transform, self.decode = samples, transform, decode

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, key: tuple[int, int]) -> dict | None:
        index, seed = key
        path, label = self.samples[index]
        try:
            item = image_item(path, self.transform, seed, self.decode)
        except DataError as error:
            if not self.skip_bad:
                raise
            print(f"skipped: {error}", file=sys.stderr)
            return None
        return {**item, "label": label}


class Synthetic(Dataset):
    """The built-in synthetic shapes, with the blueprint's transforms."""

    def __init__(self, shapes: SyntheticShapes, transform: v2.Transform) -> None:
        self.shapes, self.transform = shapes, transform

    def __len__(self) -> int:
        return len(self.shapes)

    def __getitem__(self, key: tuple[int, int]) -> dict:
        index, seed = key
        image, label = self.shapes[index]
        return {"image": augment(self.transform, image, seed), "label": label}


def load_datasets(root: str | None, config: dict, seed: int = 0, decode: str = "cpu") -> DataSets:
    """The training, validation and test sets: synthetic shapes without `root`."""
    size = tuple(config["image_size"])
    train_tf, eval_tf = build_transforms(size)
    if root is None:
        sizes = config["synthetic"]  # validation images from another seed: not training images
        train = SyntheticShapes(sizes["train_size"], 10, size, CHANNELS, seed)
        val = SyntheticShapes(sizes["val_size"], 10, size, CHANNELS, seed + 1_000_000)
        where = (
            f"synthetic shapes, {len(train.classes)} classes, {len(train)} train, {len(val)} val"
        )
        return DataSets(
            Synthetic(train, train_tf), Synthetic(val, eval_tf), None, train.classes, where, False
        )
    path = data_folder(root)
    (classes, splits), where = scan_splits(path), f"image folders at {path}"
    held_out = "val" not in splits
    if held_out:
        train, val = split([label for _, label in splits["train"]], config["val_split"], seed)
        samples = splits["train"]
        splits |= {"train": [samples[i] for i in train], "val": [samples[i] for i in val]}
    sets = {
        name: ImageFiles(samples, train_tf if name == "train" else eval_tf, decode)
        for name, samples in splits.items()
    }
    counts = ", ".join(f"{len(sets[n])} {n}" for n in ("train", "val", "test") if n in sets)
    description = f"{where}, {len(classes)} classes ({counts})"
    return DataSets(sets["train"], sets["val"], sets.get("test"), classes, description, held_out)


def is_jpeg(data: torch.Tensor) -> bool:
    return data.numel() > 2 and int(data[0]) == 0xFF and int(data[1]) == 0xD8


def decode_on_device(
    batch: dict, transform: v2.Transform, device: torch.device, skip_bad: bool = False
) -> torch.Tensor | None:
    """Decode a batch of JPEG files on `device` (nvJPEG on a GPU) and apply the transforms the
    loader workers would, with the same per-sample seeds. With `skip_bad`, undecodable files are
    left out, and their labels dropped from `batch` (None: none was left)."""
    datas, mode = batch["data"], ImageReadMode.RGB
    jpegs = [i for i, d in enumerate(datas) if d.dim() == 1]  # bytes; the rest arrive decoded
    # nvJPEG reads the bytes from (pinned) host memory itself: only decoded images are copied
    images = [None if d.dim() == 1 else d.to(device, non_blocking=True) for d in datas]
    try:
        decoded = decode_jpeg([datas[i] for i in jpegs], mode=mode, device=device) if jpegs else []
    except RuntimeError:  # one bad file fails the batch: find it
        decoded = []
        for i in jpegs:
            try:
                decoded.append(decode_jpeg(datas[i], mode=mode, device=device))
            except RuntimeError as error:
                if not skip_bad:
                    raise DataError(f"cannot decode image {batch['path'][i]}: {error}") from None
                decoded.append(None)
    for i, image in zip(jpegs, decoded):
        images[i] = image
    keep = [i for i, image in enumerate(images) if image is not None]
    out = []
    for i in keep:
        image = images[i]
        out.append(augment(transform, image, int(batch["seed"][i])))
    batch["skipped"] += len(images) - len(keep)
    for key, value in batch.items():  # the labels of the images kept
        if isinstance(value, torch.Tensor) and len(value) == len(images):
            batch[key] = value[keep]
    if not out:
        del batch["label"]
    return torch.stack(out) if out else None
