"""Checks of how images are prepared and loaded: the transforms (random ones only in training,
their output the model's input size, every image one size for a batch, the augmentations where
they can act), the data held on the GPU (data.on_device) and the loader's worker processes.
Blending batches is a training feature, which checks itself (scaffold/features/)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..spec import location_of
from ..transforms import (
    AutoAugment,
    RandAugment,
    RandomErasing,
    TrivialAugment,
    is_random,
    output_size,
)

if TYPE_CHECKING:
    from ..blueprint import Blueprint
    from ..errors import ProblemCollector

DEVICE_TRANSFORMS = ("pad", "random_crop", "random_horizontal_flip")  # what DeviceData does


def check_images(bp: Blueprint, problems: ProblemCollector) -> None:
    """The transforms, then the data on the GPU and the loader's workers, the augmentations
    and the images' one size."""
    data, transforms = bp.data, bp.data.transforms
    if is_random(transforms.eval):
        step = next(step for step in transforms.eval if step.RANDOM)
        problems.add(
            step.location or location_of(transforms, "eval"),
            "data.transforms.eval",
            f"{step.KIND} is random, but evaluation must see the same images every time",
            "use `center_crop` or `resize` in eval, and keep random steps for train",
        )
    model_size = (bp.image.height, bp.image.width)
    source = bp.source_size
    if source is not None:
        names = {"mnist": "MNIST", "cifar10": "CIFAR-10", "synthetic": "the synthetic"}
        where = f"{names[data.dataset]} images ({source[0]}x{source[1]})"
        for split in ("train", "eval"):
            got = output_size(getattr(transforms, split), source, model_size)
            if got != model_size:
                short = model_size[0] - got[0], model_size[1] - got[1]
                fix = f"`resize: [{model_size[0]}, {model_size[1]}]`"
                if short[0] == short[1] > 0 and short[0] % 2 == 0:
                    fix = f"`pad: {short[0] // 2}`"
                problems.add(
                    location_of(transforms, split) if transforms.location else data.location,
                    f"data.transforms.{split}",
                    f"{where} come out {got[0]}x{got[1]}, but the model takes "
                    f"{model_size[0]}x{model_size[1]}",
                    f"add {fix} to data.transforms.{split}",
                )
    else:  # image files of any size: the transforms must end in the input size
        for split in ("train", "eval"):
            steps = getattr(transforms, split)
            ends = {output_size(steps, size, model_size) for size in ((1001, 1499), (1499, 1001))}
            if len(ends) == 1 and ends != {model_size}:
                (h, w), wanted = ends.pop(), f"{model_size[0]}x{model_size[1]}"
                problems.add(
                    location_of(transforms, split) if transforms.location else data.location,
                    f"data.transforms.{split}",
                    f"the transforms end in {h}x{w} images, but the model takes {wanted}",
                    f"end with a crop or resize to {wanted}",
                )
    if data.on_device:
        if not bp.in_memory:
            problems.add(
                location_of(data, "on_device"),
                "data.on_device",
                f"{data.dataset} data are image files, too many to hold on the GPU; on_device is "
                "for synthetic, cifar10 and mnist",
            )
        for step in transforms.train:
            if step.KIND not in DEVICE_TRANSFORMS:
                problems.add(
                    step.location or location_of(transforms, "train"),
                    "data.transforms.train",
                    f"on the GPU (data.on_device) the training transforms can be "
                    f"{', '.join(DEVICE_TRANSFORMS)}, not {step.KIND}",
                    "remove on_device, or the transform",
                )
    if "num_workers" in data.key_locations and not bp.loader_workers:
        problems.add(
            location_of(data, "num_workers"),
            "data.num_workers",
            f"{data.dataset} images without random transforms are batched from one tensor in "
            "memory, transformed once: the loader has no worker processes",
            "remove num_workers",
        )
    _check_augmentation(bp, problems)
    _check_stacking(bp, problems)


COLOUR_AUGMENTATIONS = (RandAugment, TrivialAugment, AutoAugment)


def _check_augmentation(bp: Blueprint, problems: ProblemCollector) -> None:
    """RandAugment, TrivialAugment, AutoAugment and random erasing: where each can act (batch
    mixing's: scaffold/features/)."""
    steps = bp.data.transforms.train
    for position, step in enumerate(steps):
        if isinstance(step, RandomErasing) and position != len(steps) - 1:
            problems.add(
                step.location or location_of(bp.data.transforms, "train"),
                "data.transforms.train",
                "random_erasing erases part of the finished image, so it comes last (torchvision's "
                "references erase after every other transform)",
                "move `random_erasing` to the end of data.transforms.train",
            )
        if isinstance(step, COLOUR_AUGMENTATIONS) and bp.image.channels not in (1, 3):
            problems.add(
                step.location or location_of(bp.data.transforms, "train"),
                "data.transforms.train",
                f"{step.KIND}'s colour operations work on grey or RGB images, not on "
                f"{bp.image.channels} channels",
                f"remove {step.KIND}, or give the input 1 or 3 channels",
            )


def _check_stacking(bp: Blueprint, problems: ProblemCollector) -> None:
    """Image files come in different sizes: the transforms must make them one, for batches."""
    data = bp.data
    if data.dataset in ("image_folder", "cub", "vqa"):
        for split in ("train", "eval"):
            steps = getattr(data.transforms, split)
            if steps and not any(_fixes_size(step) for step in steps):
                problems.add(
                    location_of(data.transforms, split),
                    f"data.transforms.{split}",
                    "images of different sizes cannot be stacked into a batch; no transform here "
                    "makes every image the same size",
                    "end with `center_crop` (evaluation) or `random_crop` (training)",
                )
            elif not steps:  # no transforms at all: the images keep their own sizes
                where = data.transforms if data.transforms.location else data
                problems.add(
                    location_of(where, split if where is data.transforms else "dataset"),
                    f"data.transforms.{split}",
                    f"{data.dataset} images come in different sizes, but no {split} transform makes "
                    "them the same size, so they cannot be stacked into a batch",
                    "e.g. `train: [random_resized_crop, random_horizontal_flip]` and "
                    "`eval: [resize: 256, center_crop]`",
                )


def _fixes_size(step) -> bool:
    return getattr(step, "fixes_size", step.FIXES_SIZE)
