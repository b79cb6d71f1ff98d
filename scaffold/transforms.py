"""The image transform vocabulary of blueprints (`data.transforms.train` / `.eval`).

Sizes may be left out: they then mean the model's input size. Sizes written as numbers are
scaled with `--image-size` in the generated training, so a 448 px recipe can be tried at 64 px.
"""

from __future__ import annotations

from typing import Any, ClassVar

from .errors import ProblemCollector
from .source import Node
from .spec import (
    Enum,
    FieldType,
    Float,
    Int,
    ListOf,
    OneOf,
    Pair,
    Section,
    read_tagged,
    section,
    spec_field,
)

Size = Int(min=1, max=100_000)


@section
class Transform(Section):
    KIND: ClassVar[str] = ""
    SHORTHAND: ClassVar[str | None] = None
    RANDOM: ClassVar[bool] = False
    FIXES_SIZE: ClassVar[bool] = False  # output size no longer depends on the image's


TRANSFORMS: dict[str, type[Transform]] = {}
TRANSFORM_ALIASES: dict[str, str] = {
    "flip": "random_horizontal_flip",
    "horizontal_flip": "random_horizontal_flip",
    "hflip": "random_horizontal_flip",
    "randomcrop": "random_crop",
    "centercrop": "center_crop",
    "randomresizedcrop": "random_resized_crop",
    "randaugment": "rand_augment",
    "random_erase": "random_erasing",
    "trivialaugment": "trivial_augment",
    "trivial_augment_wide": "trivial_augment",
    "ta_wide": "trivial_augment",
    "autoaugment": "auto_augment",
    "randomerasing": "random_erasing",
}


def transform(kind: str):
    def register(cls: type[Transform]) -> type[Transform]:
        cls.KIND = kind
        TRANSFORMS[kind] = cls
        return cls

    return register


@transform("resize")
@section
class Resize(Transform):
    """Resize: one number sets the shorter side (aspect ratio kept), [h, w] sets both."""

    SHORTHAND = "size"
    size: Any = spec_field(
        OneOf(Size, ListOf(Size, min_items=2, max_items=2), what="a size or [height, width]"),
        None,
        "shorter side, or [height, width]; default: exactly the input size",
    )

    @property
    def fixes_size(self) -> bool:
        return not isinstance(self.size, int)


@transform("center_crop")
@section
class CenterCrop(Transform):
    """Crop the centre."""

    SHORTHAND = "size"
    FIXES_SIZE = True
    size: Any = spec_field(Pair(Size), None, "crop size; default: the input size")


@transform("random_crop")
@section
class RandomCrop(Transform):
    """Crop at a random position, after optional zero padding (CIFAR: padding 4)."""

    SHORTHAND = "size"
    RANDOM = True
    FIXES_SIZE = True
    size: Any = spec_field(Pair(Size), None, "crop size; default: the input size")
    padding: int = spec_field(Int(min=0, max=1000), 0, "zero padding on every side first")


@transform("random_resized_crop")
@section
class RandomResizedCrop(Transform):
    """Crop a random area and aspect ratio, resized to the size (ImageNet training)."""

    SHORTHAND = "size"
    RANDOM = True
    FIXES_SIZE = True
    size: Any = spec_field(Pair(Size), None, "output size; default: the input size")
    scale: list = spec_field(
        ListOf(Float(above=0, max=1), min_items=2, max_items=2), [0.08, 1.0], "area range"
    )


@transform("random_horizontal_flip")
@section
class RandomHorizontalFlip(Transform):
    """Mirror left-right with probability p."""

    SHORTHAND = "p"
    RANDOM = True
    p: float = spec_field(Float(min=0, max=1), 0.5, "probability")


@transform("pad")
@section
class Pad(Transform):
    """Zero padding on every side (MNIST 28 px to LeNet's 32 px: pad 2)."""

    SHORTHAND = "padding"
    padding: int = spec_field(Int(min=1, max=1000), doc="pixels added on every side")


@transform("rand_augment")
@section
class RandAugment(Transform):
    """RandAugment (Cubuk et al. 2020): `num_ops` random photometric or geometric operations of
    strength `magnitude` (0-30) on each image; torchvision's defaults, which its classification
    references use (`--auto-augment ra`, magnitude 9)."""

    SHORTHAND = "magnitude"
    RANDOM = True
    num_ops: int = spec_field(Int(min=1, max=14), 2, "operations per image")
    magnitude: int = spec_field(Int(min=0, max=30), 9, "strength of each operation, 0 to 30")


@transform("trivial_augment")
@section
class TrivialAugment(Transform):
    """TrivialAugment (Müller and Hutter 2021), its wide variant: one random operation of random
    strength on each image, nothing to tune; torchvision's references' `--auto-augment ta_wide`
    (ConvNeXt, EfficientNetV2, RegNet, Swin, and ResNet-50's newer weights)."""

    SHORTHAND = "num_magnitude_bins"
    RANDOM = True
    num_magnitude_bins: int = spec_field(Int(min=2, max=100), 31, "strength levels to draw from")


@transform("auto_augment")
@section
class AutoAugment(Transform):
    """AutoAugment (Cubuk et al. 2019): the operations searched on ImageNet, CIFAR-10 or SVHN, drawn
    per image; torchvision's references' `--auto-augment imagenet` (MobileNetV3, EfficientNet)."""

    SHORTHAND = "policy"
    RANDOM = True
    policy: str = spec_field(
        Enum("imagenet", "cifar10", "svhn"), "imagenet", "the data set the policy was searched on"
    )


@transform("random_erasing")
@section
class RandomErasing(Transform):
    """Random erasing (Zhong et al. 2020): with probability p, a random rectangle of the image is
    filled with the data's mean colour (torchvision's references erase after normalising, with
    0: the same colour). The last training transform."""

    SHORTHAND = "p"
    RANDOM = True
    p: float = spec_field(Float(above=0, max=1), 0.25, "probability (timm's and DeiT's 0.25)")
    scale: list = spec_field(
        ListOf(Float(above=0, max=1), min_items=2, max_items=2),
        [0.02, 0.33],
        "range of the erased area, as a fraction of the image",
    )
    ratio: list = spec_field(
        ListOf(Float(above=0, max=100), min_items=2, max_items=2),
        [0.3, 3.3],
        "range of the erased rectangle's aspect ratio",
    )


SIZE_KEEPING = (
    RandomHorizontalFlip,
    RandAugment,
    TrivialAugment,
    AutoAugment,
    RandomErasing,
)  # keep the size


class TransformType(FieldType):
    def read(self, node: Node, path: str, problems: ProblemCollector) -> Any:
        return read_tagged(
            node, path, problems, TRANSFORMS, TRANSFORM_ALIASES, "transform", "`resize: 256`"
        )

    def schema(self) -> dict[str, Any]:
        return {"$ref": "#/$defs/transform"}

    def describe(self) -> str:
        return "a transform"


TransformList = ListOf(TransformType())


def output_size(
    steps: list[Transform], size: tuple[int, int], input_size: tuple[int, int]
) -> tuple[int, int]:
    """The size of an image of `size` after `steps` (sizes left out mean the model's input size,
    `input_size`), computed as torchvision's v2 transforms do."""
    h, w = size
    for step in steps:
        if isinstance(step, Pad):
            h, w = h + 2 * step.padding, w + 2 * step.padding
        elif isinstance(step, Resize) and isinstance(step.size, int):
            short, long = sorted((h, w))
            long = int(step.size * long / short)  # the shorter side becomes `size`
            h, w = (step.size, long) if h <= w else (long, step.size)
        elif isinstance(step, (Resize, CenterCrop, RandomCrop, RandomResizedCrop)):
            h, w = tuple(step.size) if step.size is not None else input_size
    return h, w


def input_size_for(steps: list[Transform], size: tuple[int, int]) -> tuple[int, int] | None:
    """The image size `steps` take to give `size`, or None when a step makes every size into it
    (a crop or a resize)."""
    h, w = size
    for step in reversed(steps):
        if isinstance(step, Pad):
            h, w = h - 2 * step.padding, w - 2 * step.padding
        elif not isinstance(step, SIZE_KEEPING):
            return None
    return h, w


def is_random(steps: list[Transform]) -> bool:
    return any(step.RANDOM for step in steps)


def repeats(steps: list[Transform]) -> list[tuple[int, int]]:
    """The positions of steps of a kind written earlier in the same list, each with the
    position of the first of its kind, in the order written."""
    first: dict[str, int] = {}
    found = []
    for position, step in enumerate(steps):
        if step.KIND in first:
            found.append((position, first[step.KIND]))
        else:
            first[step.KIND] = position
    return found


def other_names(kind: str) -> list[str]:
    """The other words a blueprint may write for a transform kind (`flip` for
    random_horizontal_flip)."""
    return [alias for alias, name in TRANSFORM_ALIASES.items() if name == kind]


def mirror_probability(flips: list[RandomHorizontalFlip]) -> float:
    """The probability that an image ends mirrored after these flips, each drawn by itself: an
    odd number of them flip it."""
    mirrored = 0.0
    for flip in flips:
        mirrored = mirrored * (1 - flip.p) + (1 - mirrored) * flip.p
    return mirrored
