"""Advice `scaffold validate` gives on a valid blueprint: what its author may want to add. Advice
never changes a project, which holds what its blueprint says and nothing else."""

from __future__ import annotations

from .blueprint import Blueprint
from .errors import Problem
from .transforms import RandomHorizontalFlip, is_random, mirror_probability, other_names, repeats

# images up to this side take CIFAR's augmentation (pad and crop); larger ones ImageNet's
SMALL_IMAGE = 64


def advice(bp: Blueprint) -> list[Problem]:
    """Suggestions for a valid blueprint, each located like a problem (none for most)."""
    notes = [note for note in (augmentation_advice(bp),) if note is not None]
    return notes + repeated_transform_advice(bp)


def augmentation_advice(bp: Blueprint) -> Problem | None:
    """Random crops and flips, for a classifier of colour images whose training transforms have
    no random step. Grey images are left alone: they are often digits or letters, which a flip
    turns into other symbols; VQA too, whose questions may speak of left and right."""
    train = bp.data.transforms.train
    if bp.is_vqa or bp.image.channels != 3 or is_random(train):
        return None
    # where the training transforms are written, or would be
    where = bp.data.key_locations.get("transforms") or bp.key_locations.get("data")
    if train:
        where = bp.data.transforms.key_locations.get("train", where)
    if max(bp.image.height, bp.image.width) <= SMALL_IMAGE:
        recipe, source = "[random_crop: {padding: 4}, random_horizontal_flip]", "CIFAR's recipe"
    else:
        recipe, source = "[random_resized_crop, random_horizontal_flip]", "ImageNet's recipe"
    return Problem(
        where,
        "data.transforms.train",
        "no random augmentation: every epoch trains on the same images",
        f"where a mirror image keeps its class, `train: {recipe}` ({source}) usually generalises "
        "better; the project has none until the blueprint says so",
    )


def repeated_transform_advice(bp: Blueprint) -> list[Problem]:
    """A transform written again in the same split (`flip` after `horizontal_flip`: both are
    random_horizontal_flip), at the repeat's line: torchvision applies each, one after the
    other. Advice, not a problem: a repeat may be meant."""
    notes = []
    for split in ("train", "eval"):
        steps = getattr(bp.data.transforms, split)
        for position, first_position in repeats(steps):
            step, first = steps[position], steps[first_position]
            kind = step.KIND
            where = f"{kind} again"
            if first.location:
                where += f" (the first is on line {first.location.line})"
            if isinstance(step, RandomHorizontalFlip):
                flips = [other for other in steps[: position + 1] if other.KIND == kind]
                mirrored = mirror_probability(flips)
                what = (
                    f"each flip is drawn by itself, so an image ends mirrored with probability "
                    f"{mirrored:.3g}" + (", as with one flip at 0.5" if mirrored == 0.5 else "")
                )
                keep = "keep one, with `p` the probability you want"
            else:
                what = "every image goes through each, one after the other"
                keep = "keep one"
            names = other_names(kind)
            also = (
                f"{', '.join(f'`{n}`' for n in names)} and `{kind}` are one transform; "
                if names
                else ""
            )
            notes.append(
                Problem(
                    step.location,
                    step.path,
                    f"{where}: {what}",
                    f"{also}{keep}, unless the repeat is meant",
                )
            )
    return notes
