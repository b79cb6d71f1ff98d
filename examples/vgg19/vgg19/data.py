"""Data for vgg19: labelled images, and the loaders that feed training.

Every data set yields uint8 images (C x H x W). Geometric transforms run in the loader workers;
conversion to float and normalisation run on the training device (`normalize`), where they cost
least. With `--decode gpu`, JPEG files reach the device as bytes and are decoded there in
batches, then go through the same transforms. Random augmentation is seeded per sample from
(seed, epoch, index), so a run sees the same images with any number of workers, and resumes
exactly even in the middle of an epoch.
"""

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset, Sampler
from torchvision.io import ImageReadMode, decode_image, decode_jpeg, read_file
from torchvision.transforms import v2

from .synthetic import SyntheticShapes, shape_class_names

IMAGE_SIZE = (32, 32)  # height, width the model was designed for
CHANNELS = 3
MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.247, 0.2435, 0.2616)
# names from the blueprint; the data's own names win
CLASSES = [
    "plane",
    "car",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
]
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff")


class DataError(Exception):
    """A problem with the data that the user can fix; training stops with this message."""

    def __str__(self) -> str:
        # Raised in a loader worker, it arrives wrapped with the worker's traceback: keep the
        # message alone (the traceback's last line).
        text = super().__str__().strip()
        if "Traceback" in text:
            text = text.splitlines()[-1].split("DataError: ", 1)[-1]
        return text


# --- transforms -------------------------------------------------------------------------------


def build_transforms(
    image_size: tuple[int, int] = IMAGE_SIZE, source: str = "cifar10"
) -> tuple[v2.Transform, v2.Transform]:
    """Training and evaluation transforms of uint8 image tensors for data from `source`.

    The blueprint's transforms are for cifar10 data; their sizes scale with `image_size`.
    """
    size = tuple(image_size)

    if source == "synthetic":  # drawn at the right size already
        return v2.RandomHorizontalFlip(), v2.Identity()
    if source == "folder":  # image files of any size: crop to the model's size
        train = v2.Compose(
            [
                v2.RandomResizedCrop(size, scale=(0.25, 1.0), antialias=True),
                v2.RandomHorizontalFlip(),
            ]
        )
        evaluation = v2.Compose(
            [v2.Resize(round(size[0] * 8 / 7), antialias=True), v2.CenterCrop(size)]
        )
        return train, evaluation
    train = v2.Compose(
        [
            v2.RandomCrop(size, padding=4),
            v2.RandomHorizontalFlip(),
        ]
    )
    evaluation = v2.Identity()
    return train, evaluation


def normalize(images: torch.Tensor) -> torch.Tensor:
    """uint8 images (N, C, H, W) on any device -> normalised float32."""
    images = images.float().div_(255)
    mean = torch.tensor(MEAN, device=images.device).view(1, -1, 1, 1)
    std = torch.tensor(STD, device=images.device).view(1, -1, 1, 1)
    return images.sub_(mean).div_(std)


def seeded(transform: v2.Transform, image: torch.Tensor, seed: int) -> torch.Tensor:
    """Apply `transform` with its random choices drawn from `seed`, leaving the global RNG alone."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return transform(image)


def to_channels(image: torch.Tensor) -> torch.Tensor:
    """A uint8 image with CHANNELS channels (grey images repeated, colour images made grey)."""
    if image.shape[0] == CHANNELS:
        return image
    if CHANNELS == 1:
        return v2.functional.rgb_to_grayscale(image[:3])
    return image[:1].expand(CHANNELS, -1, -1).clone()


def decode(data: torch.Tensor, path: str) -> torch.Tensor:
    mode = ImageReadMode.GRAY if CHANNELS == 1 else ImageReadMode.RGB
    try:
        return to_channels(decode_image(data, mode=mode))
    except RuntimeError as error:
        raise DataError(f"cannot decode image {path}: {error}") from None


def is_jpeg(data: torch.Tensor) -> bool:
    return data.numel() > 2 and int(data[0]) == 0xFF and int(data[1]) == 0xD8


# --- sampling ---------------------------------------------------------------------------------


class SeededSampler(Sampler):
    """This process's share of the data in a seeded order, each index with its own augmentation seed.

    Training (`shuffle=True`): a new order every epoch, cut so that every DDP rank takes the same
    number of steps. Evaluation: every sample exactly once over all ranks, no padding.
    `set_epoch(epoch, start)` skips the `start` samples this rank has already seen.
    """

    def __init__(
        self, size: int, seed: int, shuffle: bool, rank: int = 0, world_size: int = 1
    ) -> None:
        self.size, self.seed, self.shuffle = size, seed, shuffle
        self.rank, self.world_size = rank, world_size
        self.epoch = self.start = 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        self.epoch, self.start = epoch, start

    def indices(self) -> list[int]:
        if self.shuffle:
            generator = torch.Generator().manual_seed(
                self.seed * 1_000_003 + self.epoch
            )
            order = torch.randperm(self.size, generator=generator).tolist()
            per_rank = self.size // self.world_size
            return order[self.rank :: self.world_size][:per_rank]
        return list(range(self.rank, self.size, self.world_size))

    def __iter__(self):
        base = (self.seed * 1_000_003 + self.epoch) * 1_000_000_007
        for index in self.indices()[self.start :]:
            yield index, (base + index) % 2**63

    def __len__(self) -> int:
        return max(0, len(self.indices()) - self.start)


def collate(items: list[dict | None]) -> dict:
    """Stack tensors; keep lists of what cannot be stacked (JPEG
    bytes, boxes, strings). Samples skipped as undecodable (None) are counted in "skipped".
    """
    kept = [item for item in items if item is not None]
    batch = {"skipped": len(items) - len(kept)}
    items = kept
    for key in items[0] if items else []:
        values = [item[key] for item in items]
        if isinstance(values[0], torch.Tensor) and all(
            v.shape == values[0].shape for v in values
        ):
            batch[key] = torch.stack(values)
        elif isinstance(values[0], (int, float)) and not isinstance(values[0], bool):
            batch[key] = torch.tensor(values)
        else:
            batch[key] = values
    return batch


def make_loader(
    dataset: Dataset,
    sampler: SeededSampler,
    batch_size: int,
    num_workers: int,
    pin_memory: bool,
    drop_last: bool,
) -> DataLoader:
    # more would only compete for cores
    num_workers = min(num_workers, os.cpu_count() or 1)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        collate_fn=collate,
        pin_memory=pin_memory,
        drop_last=drop_last,
        persistent_workers=num_workers > 0,
        prefetch_factor=4 if num_workers > 0 else None,
    )


def decode_on_device(
    batch: dict, transform: v2.Transform, device: torch.device, skip_bad: bool = False
) -> torch.Tensor:
    """The GPU input path: decode a batch of JPEG files on `device` (nvJPEG on a GPU) and apply
    the same transforms as the workers would, with the same per-sample seeds. With `skip_bad`,
    undecodable files are left out (and their labels dropped from `batch`)."""
    mode = ImageReadMode.GRAY if CHANNELS == 1 else ImageReadMode.RGB
    datas = batch["data"]
    # bytes; others arrive decoded
    jpegs = [i for i, d in enumerate(datas) if d.dim() == 1]
    images = [d.to(device, non_blocking=True) for d in datas]
    try:
        decoded = (
            decode_jpeg([datas[i] for i in jpegs], mode=mode, device=device)
            if jpegs
            else []
        )
    except RuntimeError:  # one bad file fails the batch: find it
        decoded = []
        for i in jpegs:
            try:
                decoded.append(decode_jpeg(datas[i], mode=mode, device=device))
            except RuntimeError as error:
                if not skip_bad:
                    raise DataError(
                        f"cannot decode image {batch['path'][i]}: {error}"
                    ) from None
                decoded.append(None)
    for i, image in zip(jpegs, decoded):
        images[i] = image
    keep = [i for i, image in enumerate(images) if image is not None]
    if len(keep) < len(images):
        batch["skipped"] = batch.get("skipped", 0) + len(images) - len(keep)
        batch["label"] = batch["label"][keep]
    out = []
    seeds, boxes = batch["seed"].tolist(), batch["box"]
    for image, seed, box in ((images[i], seeds[i], boxes[i]) for i in keep):
        image = to_channels(image)
        if box is not None:
            image = crop_box(image, box)
        out.append(seeded(transform, image, seed))
    return torch.stack(out)


def crop_box(
    image: torch.Tensor, box: tuple[float, float, float, float]
) -> torch.Tensor:
    x, y, w, h = box
    top, left = max(0, int(y)), max(0, int(x))
    return image[:, top : max(top + 1, int(y + h)), left : max(left + 1, int(x + w))]


class ImageFiles(Dataset):
    """Image files with labels. Decoded here, in the loader workers; with `decode="gpu"`, JPEG
    files are handed over as raw bytes and decoded on the GPU (`decode_on_device`)."""

    skip_bad = False  # True: an undecodable file is skipped (and counted), not an error

    def __init__(
        self,
        samples: list[tuple[str, int]],
        transform: v2.Transform,
        decode: str = "cpu",
        boxes: list | None = None,
    ) -> None:
        self.samples, self.transform, self.decode = samples, transform, decode
        self.boxes = boxes

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, key: tuple[int, int]) -> dict | None:
        index, seed = key
        path, label = self.samples[index]
        box = self.boxes[index] if self.boxes else None
        try:
            return {
                **image_item(path, seed, self.transform, self.decode, box),
                "label": label,
            }
        except DataError as error:
            if not self.skip_bad:
                raise
            print(f"skipped: {error}", file=sys.stderr)
            return None


def image_item(
    path: str, seed: int, transform: v2.Transform, decode_on: str, box=None
) -> dict:
    """An image file as a sample: transformed pixels, or (decode_on="gpu") what the GPU needs to
    decode and transform it in a batch."""
    data = read_file(path)
    if decode_on == "gpu":
        if not is_jpeg(data):
            # PNG and friends: decoded here, transformed there
            data = decode(data, path)
        return {"data": data, "seed": seed, "box": box, "path": path}
    image = decode(data, path)
    if box is not None:
        image = crop_box(image, box)
    return {"image": seeded(transform, image, seed)}


class TensorImages(Dataset):
    """Images already in memory as one uint8 tensor (N, C, H, W): CIFAR-10, MNIST."""

    def __init__(
        self, images: torch.Tensor, labels: list[int], transform: v2.Transform
    ) -> None:
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, key: tuple[int, int]) -> dict:
        index, seed = key
        return {
            "image": seeded(self.transform, self.images[index], seed),
            "label": self.labels[index],
        }

    def raw(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images, torch.tensor(self.labels)


class Synthetic(Dataset):
    """The built-in synthetic shapes, with this project's transforms."""

    def __init__(self, shapes: SyntheticShapes, transform: v2.Transform) -> None:
        self.shapes, self.transform = shapes, transform

    def __len__(self) -> int:
        return len(self.shapes)

    def __getitem__(self, key: tuple[int, int]) -> dict:
        index, seed = key
        image, label = self.shapes[index]
        return {"image": seeded(self.transform, image, seed), "label": label}

    def raw(self) -> tuple[torch.Tensor, torch.Tensor]:
        items = [self.shapes[i] for i in range(len(self.shapes))]
        images = torch.stack([image for image, _ in items])
        return images, torch.tensor([label for _, label in items])


class DeviceData:
    """A small data set held whole on the device as uint8, batched and augmented there: no loader
    workers and no copy per step, so small models run at the speed of the GPU (--data-on-device).
    Same sample order as the loader; augmentation draws from a device generator per batch.
    Supports the in-memory data sets and CIFAR-style transforms: pad, random crop, flip.
    """

    def __init__(
        self, dataset: Dataset, transform: v2.Transform, device: torch.device, seed: int
    ) -> None:
        if not hasattr(dataset, "raw"):
            raise DataError(
                "--data-on-device works with in-memory data sets (synthetic, CIFAR-10, MNIST), not image files"
            )
        images, labels = dataset.raw()
        self.images, self.labels = images.to(device), labels.to(device)
        self.device, self.seed = device, seed
        self.pad = self.crop_padding = 0
        self.crop_size = None
        self.flip = 0.0
        steps = (
            transform.transforms if isinstance(transform, v2.Compose) else [transform]
        )
        for step in steps:
            if isinstance(step, v2.Pad) and isinstance(
                step.padding, (int, list, tuple)
            ):
                self.pad += (
                    step.padding if isinstance(step.padding, int) else step.padding[0]
                )
            elif isinstance(step, v2.RandomCrop):
                self.crop_size = tuple(step.size)
                self.crop_padding = step.padding[0] if step.padding else 0
            elif isinstance(step, v2.RandomHorizontalFlip):
                self.flip = step.p
            elif not isinstance(step, v2.Identity):
                raise DataError(
                    f"--data-on-device supports pad, random_crop and random_horizontal_flip, not {type(step).__name__}"
                )

    def batches(
        self, sampler: SeededSampler, batch_size: int, epoch: int, drop_last: bool
    ):
        order = torch.tensor(sampler.indices(), device=self.device)
        first = sampler.start // batch_size
        end = len(order) - len(order) % batch_size if drop_last else len(order)
        for step, begin in enumerate(
            range(first * batch_size, end, batch_size), start=first
        ):
            index = order[begin : begin + batch_size]
            generator = torch.Generator(self.device).manual_seed(
                (self.seed * 1_000_003 + epoch) * 100_003 + step
            )
            yield {
                "image": self.augment(self.images[index], generator),
                "label": self.labels[index],
            }

    def augment(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if self.pad:
            images = torch.nn.functional.pad(images, [self.pad] * 4)
        if self.crop_size is not None:
            n, c, h, w = images.shape
            padding = self.crop_padding
            padded = (
                torch.nn.functional.pad(images, [padding] * 4) if padding else images
            )
            ch, cw = self.crop_size
            top = torch.randint(
                0,
                h + 2 * padding - ch + 1,
                (n,),
                device=images.device,
                generator=generator,
            )
            left = torch.randint(
                0,
                w + 2 * padding - cw + 1,
                (n,),
                device=images.device,
                generator=generator,
            )
            rows = (top[:, None] + torch.arange(ch, device=images.device))[
                :, None, :, None
            ]
            cols = (left[:, None] + torch.arange(cw, device=images.device))[
                :, None, None, :
            ]
            batch = torch.arange(n, device=images.device)[:, None, None, None]
            channel = torch.arange(c, device=images.device)[None, :, None, None]
            images = padded[batch, channel, rows, cols]
        if self.flip:
            flip = (
                torch.rand(images.shape[0], device=images.device, generator=generator)
                < self.flip
            )
            images = torch.where(flip[:, None, None, None], images.flip(3), images)
        return images


# --- data sets --------------------------------------------------------------------------------


@dataclass
class DataSets:
    train: Dataset
    val: Dataset
    classes: list[str]
    source: str  # synthetic, folder, cifar10
    description: str


def load_datasets(
    root: str | None,
    config: dict,
    image_size: tuple[int, int] = IMAGE_SIZE,
    decode: str = "cpu",
    seed: int = 0,
    download: bool = False,
) -> DataSets:
    """The training and validation sets. Without `root`, the built-in synthetic shapes; with it,
    whatever layout `root` holds: torchvision's CIFAR-10 files, or an ImageFolder tree
    (train/ and val/, one folder per class)."""
    if root is None:
        return synthetic_datasets(config, image_size, seed)
    path = Path(root).expanduser()
    if download:
        path.mkdir(parents=True, exist_ok=True)
        return torchvision_datasets(path, image_size, download)
    if not path.is_dir():
        raise DataError(f"--data-root {root}: no such folder")
    if not any(path.iterdir()):
        raise DataError(f"--data-root {root} is empty")
    if looks_like_torchvision(path):
        return torchvision_datasets(path, image_size, download)
    return folder_datasets(path, config, image_size, decode, seed)


def synthetic_datasets(
    config: dict, image_size: tuple[int, int], seed: int
) -> DataSets:
    sizes = config["synthetic"]
    num_classes = 10
    train_tf, eval_tf = build_transforms(image_size, "synthetic")
    # different seeds, so validation images are not training images
    train = SyntheticShapes(
        sizes["train_size"], num_classes, image_size, CHANNELS, seed=seed
    )
    val = SyntheticShapes(
        sizes["val_size"], num_classes, image_size, CHANNELS, seed=seed + 1_000_000
    )
    classes = shape_class_names(num_classes)
    description = (
        f"synthetic shapes, {num_classes} classes ({len(train)} train, {len(val)} val)"
    )
    return DataSets(
        Synthetic(train, train_tf),
        Synthetic(val, eval_tf),
        classes,
        "synthetic",
        description,
    )


def folder_datasets(
    root: Path, config: dict, image_size: tuple[int, int], decode: str, seed: int
) -> DataSets:
    """An ImageFolder tree: root/train/CLASS/*.jpg and root/val/CLASS/*.jpg (or test/, valid/);
    or root/CLASS/*.jpg split by `val_split`."""
    train_dir = root / "train"
    val_dir = next(
        (
            root / name
            for name in ("val", "valid", "validation", "test")
            if (root / name).is_dir()
        ),
        None,
    )
    train_tf, eval_tf = build_transforms(image_size, "folder")
    if train_dir.is_dir() and val_dir is not None:
        classes, train = scan_folder(train_dir)
        val_classes, val = scan_folder(val_dir)
        if val_classes != classes:
            only_train = sorted(set(classes) - set(val_classes))
            only_val = sorted(set(val_classes) - set(classes))
            raise DataError(
                f"the class folders of {train_dir} and {val_dir} differ: "
                f"only in train: {only_train or 'none'}; only in {val_dir.name}: {only_val or 'none'}"
            )
    else:
        source = train_dir if train_dir.is_dir() else root
        if not config.get("val_split"):
            raise DataError(
                f"{root} has no train/ and val/ folders: expected {root}/train/CLASS/*.jpg and "
                f"{root}/val/CLASS/*.jpg. "
                "To split one folder of class folders instead, pass --val-split 0.2"
            )
        classes, samples = scan_folder(source)
        train, val = split(samples, config["val_split"], seed)
    description = f"image folders at {root}, {len(classes)} classes ({len(train)} train, {len(val)} val)"
    return DataSets(
        ImageFiles(train, train_tf, decode),
        ImageFiles(val, eval_tf, decode),
        classes,
        "folder",
        description,
    )


def scan_folder(folder: Path) -> tuple[list[str], list[tuple[str, int]]]:
    classes = sorted(
        d.name for d in folder.iterdir() if d.is_dir() and not d.name.startswith(".")
    )
    if not classes:
        raise DataError(
            f"{folder} has no class folders (expected {folder}/CLASS/IMAGE.jpg)"
        )
    samples = []
    for label, name in enumerate(classes):
        files = sorted(
            f
            for f in (folder / name).rglob("*")
            if f.suffix.lower() in IMAGE_EXTENSIONS
        )
        if not files:
            raise DataError(
                f"the class folder {folder / name} has no images ({', '.join(IMAGE_EXTENSIONS)})"
            )
        samples += [(str(f), label) for f in files]
    return classes, samples


def split(samples: list, fraction: float, seed: int) -> tuple[list, list]:
    """A reproducible random split: the last `fraction` of a seeded shuffle is validation."""
    order = torch.randperm(
        len(samples), generator=torch.Generator().manual_seed(seed)
    ).tolist()
    cut = len(samples) - max(1, round(len(samples) * fraction))
    if cut < 1:
        raise DataError(
            f"cannot split {len(samples)} samples into training and validation"
        )
    return [samples[i] for i in order[:cut]], [samples[i] for i in order[cut:]]


def looks_like_torchvision(root: Path) -> bool:
    return (root / "cifar-10-batches-py").is_dir()


def torchvision_datasets(
    root: Path, image_size: tuple[int, int], download: bool
) -> DataSets:
    """CIFAR-10 through torchvision, held in memory as uint8 tensors."""
    from torchvision import datasets

    try:
        train = datasets.CIFAR10(root, train=True, download=download)
        val = datasets.CIFAR10(root, train=False, download=download)
    except (RuntimeError, OSError) as error:
        fix = (
            "Check the network connection"
            if download
            else "Pass --download to fetch it there"
        )
        raise DataError(
            f"cannot load CIFAR-10 from {root}: {error}\n"
            f"{fix}, or train on the built-in synthetic shapes by leaving out --data-root."
        ) from None

    def images(ds) -> torch.Tensor:
        data = torch.as_tensor(ds.data)
        # (N, C, H, W)
        data = data.permute(0, 3, 1, 2) if data.dim() == 4 else data.unsqueeze(1)
        if data.shape[1] != CHANNELS:
            data = torch.stack([to_channels(image) for image in data])
        return data.contiguous()

    train_tf, eval_tf = build_transforms(image_size, "cifar10")
    classes = list(train.classes)
    description = f"CIFAR-10 at {root} ({len(train)} train, {len(val)} test)"
    return DataSets(
        TensorImages(images(train), list(map(int, train.targets)), train_tf),
        TensorImages(images(val), list(map(int, val.targets)), eval_tf),
        classes,
        "cifar10",
        description,
    )
