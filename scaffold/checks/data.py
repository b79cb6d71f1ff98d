"""Checks of where the data come from: a data set that fits the input (images, or questions about
images), its classes, and the normalisation's channels. How the images are prepared and loaded:
images.py."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..presets import NORMALIZE_PRESETS
from ..spec import location_of

if TYPE_CHECKING:
    from ..blueprint import Blueprint
    from ..errors import ProblemCollector


def check_data(bp: Blueprint, problems: ProblemCollector) -> None:
    """The data set fits the input, its classes their count, the normalisation the channels."""
    data = bp.data
    if bp.is_vqa and not data.has_questions:
        problems.add(
            location_of(data, "dataset"),
            "data.dataset",
            f"{data.dataset} has no questions; a model with a question input needs vqa or synthetic_vqa",
        )
    if not bp.is_vqa and data.has_questions:
        problems.add(
            location_of(data, "dataset"),
            "data.dataset",
            f"{data.dataset} is a question-answering data set, but the model has no question input",
            "add `question` to `input` and split the model into image, question and head",
        )
    fixed = data.fixed_classes
    if fixed is not None and bp.num_classes != fixed and not bp.is_vqa:
        problems.add(
            location_of(data, "classes"),
            "data.classes",
            f"{data.dataset} has {fixed} classes, not {bp.num_classes}",
        )
    if isinstance(data.classes, list) and len(set(data.classes)) != len(data.classes):
        twice = sorted({name for name in data.classes if data.classes.count(name) > 1})
        problems.add(
            location_of(data, "classes"),
            "data.classes",
            f"class names must be different; {', '.join(map(repr, twice))} appears more than once",
            "rename or remove the repeated names",
        )
    _check_normalize(bp, problems)


def _check_normalize(bp: Blueprint, problems: ProblemCollector) -> None:
    """The normalisation's statistics: one value per channel of the input."""
    data, channels = bp.data, bp.image.channels
    if data.normalize is None:
        return
    if not isinstance(data.normalize, str):  # {mean: [...], std: [...]}
        for key in ("mean", "std"):
            values = getattr(data.normalize, key)
            if len(values) != channels:
                problems.add(
                    location_of(data.normalize, key),
                    f"data.normalize.{key}",
                    f"has {_count(len(values), 'value')} but the input has "
                    f"{_count(channels, 'channel')}",
                    "give one value per channel",
                )
    elif data.normalize in NORMALIZE_PRESETS and data.normalize != "half":
        preset_channels = len(NORMALIZE_PRESETS[data.normalize][0])
        if preset_channels != channels:
            problems.add(
                location_of(data, "normalize"),
                "data.normalize",
                f"{data.normalize} statistics are for {_count(preset_channels, 'channel')}, "
                f"the input has {channels}",
                "give {mean: [...], std: [...]} with one value per channel, or `half`",
            )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
