"""The project in words: the README's prose (its title, its list of the training features the
blueprint switches on) and the phrases docstrings and comments share with it."""

from __future__ import annotations

from .. import transforms as T
from .part import Part
from .text import comment_text, markdown_item


class Prose(Part):
    """The project in words, for people (`p.prose`): the README's, and those docstrings and
    comments share with it."""

    @property
    def title(self) -> str:
        """The README's title: the description (or the name), one line."""
        return comment_text(self.blueprint.description or self.blueprint.name)

    @property
    def synthetic_text(self) -> str:
        """The README's words on the built-in synthetic data: one shape per class (mask.py draws
        SYNTHETIC_CLASS_LIMIT shapes, so a class never repeats a shape)."""
        if self.pieces.vqa:
            return (
                'images of shapes with questions whose answers depend on the image ("what colour '
                'is the circle?", "is there a square?", "how many triangles are there?")'
            )
        classes = self.project.synthetic_classes
        return f"procedurally drawn shapes in {classes} classes, one shape each"

    @property
    def resume_exact_text(self) -> str:
        """Why a resumed CPU run ends with the weights of an uninterrupted one, for the README:
        what is seeded is what the project has."""
        if self.pieces.random_augmentation:
            return "augmentation is seeded per sample"  # and the order per epoch
        return "the data order is seeded per epoch"

    @property
    def frozen_text(self) -> str:
        """The README's sentence on what freezing does: batch norm only where the model has it."""
        if self.plan.has_batch_norm:
            return (
                "Frozen parameters get no gradients and no optimizer state, and frozen batch-norm "
                "layers keep their statistics."
            )
        return "Frozen parameters get no gradients and no optimizer state."

    @property
    def tf32_text(self) -> str:
        """The README's words on TF32: on for matrix products, but not where a block promises
        true float32 (bilinear pooling's mean outer product)."""
        if self.project.float32_pooling:
            return "TF32 matmuls (not in the bilinear pooling, which stays in true float32)"
        return "TF32 matmuls"

    @property
    def bench_data_text(self) -> str:
        """What `bench --data-root` measures besides compute, for the README's comment."""
        if self.pieces.gpu_decode:
            return "and end to end, decoding on the CPU and the GPU"
        return "and end to end, with the real loader"

    @property
    def params_text(self) -> str:
        return f"{self.plan.total_params:,}"

    @property
    def input_text(self) -> str:
        i = self.image
        return f"{i.channels}x{i.height}x{i.width}"

    @property
    def recipe_words(self) -> dict[str, str]:
        """train.py's words on the recipe: the help's " of every phase", the epoch's ", over all
        phases", where --set's example setting is, and the name of the recipe's settings."""
        if self.pieces.phases:
            return {
                "every": " of every phase",
                "over": ", over all phases",
                "example": "train.phases[1].",
                "variable": "phase",
            }
        return {"every": "", "over": "", "example": "train.", "variable": "train"}

    @property
    def auxiliary_text(self) -> str:
        """The auxiliary heads for prose: `aux1` (0.3) and `aux2` (0.3)."""
        heads = [f"`{head.name}` ({head.weight:g})" for head in self.plan.auxiliary]
        return heads[0] if len(heads) == 1 else ", ".join(heads[:-1]) + " and " + heads[-1]

    @property
    def source_size_reason(self) -> str:
        """Why images have SOURCE_SIZE, in words."""
        if self.project.dataset == "synthetic":
            return "the size the blueprint's transforms take"
        return f"{self.project.data_name}'s size, which the blueprint's transforms take"

    @property
    def source_size_note(self) -> str:
        """What SOURCE_SIZE is, as a comment."""
        if self.project.dataset == "synthetic":
            return "the synthetic shapes are drawn at this size; the transforms make it the input"
        return f"{self.project.data_name}'s images, which the transforms make the model's input"

    @property
    def transforms_text(self) -> dict[str, str]:
        """Each split's transforms in words, for the README."""
        return {
            split: ", ".join(
                _transform_words(s) for s in getattr(self.blueprint.data.transforms, split)
            )
            or "none"
            for split in ("train", "eval")
        }

    @property
    def feature_lines(self) -> list[str]:
        """The README's list of the training features the blueprint switches on, in words: one
        Markdown item each, filled to the line length (none for a blueprint that switches none
        on)."""
        items = self._recipe_features() + self._data_features()
        return [markdown_item(item) for item in items]

    def _recipe_features(self) -> list[str]:
        """The README's items on the training recipe's features (each unit's, accumulation, ...)."""
        train, x, lines = self.blueprint.train, self.pieces, []
        if train.label_smoothing:
            eps = train.label_smoothing
            lines.append(
                f"**Label smoothing** {eps} (`train.label_smoothing`): the loss's target puts "
                f"1 - {eps} on the label and spreads {eps} evenly over all classes "
                "(`nn.CrossEntropyLoss(label_smoothing=...)`)."
            )
        if train.grad_clip:
            lines.append(
                f"**Gradient clipping**: before each optimizer step the gradients are scaled down "
                f"to a total norm of at most {train.grad_clip} (`train.grad_clip`; under fp16, "
                "after unscaling)."
            )
        lines += [
            unit.readme(self.project) for unit in self.features if unit.readme_part == "recipe"
        ]
        lines = [line for line in lines if line is not None]  # (a feature may have none)
        if x.per_step:
            lines.append(
                "**A per-step schedule**: the learning rate moves after every optimizer step, "
                "its epochs (warm-up included) counted in steps; metrics.csv's `lr` is the rate "
                "at the epoch's end."
            )
        return lines

    def _data_features(self) -> list[str]:
        """The README's items on the blueprint's augmentation and on the data's features (each
        unit's)."""
        bp, notes = self.blueprint, []
        steps = {type(step): step for step in bp.data.transforms.train}
        ra, ta, aa, erasing = (
            steps.get(kind)
            for kind in (T.RandAugment, T.TrivialAugment, T.AutoAugment, T.RandomErasing)
        )
        if ra or ta or aa or erasing:
            said = (
                [f"RandAugment ({ra.num_ops} operations of magnitude {ra.magnitude})"] if ra else []
            )
            if ta:
                said.append(
                    "TrivialAugment (one operation of random strength per image, the wide variant)"
                )
            if aa:
                names = {"imagenet": "ImageNet", "cifar10": "CIFAR-10", "svhn": "SVHN"}
                said.append(f"AutoAugment (the policy searched on {names[aa.policy]})")
            if erasing:
                said.append(
                    f"random erasing (probability {erasing.p}, the rectangle filled with the data's"
                    " mean colour, which normalisation makes 0)"
                )
            notes.append(
                f"**Augmentation**: {' and '.join(said)} through torchvision.transforms.v2, on"
                " training images only; each sample's are drawn from the seed, the epoch and its"
                " index, so a resumed run sees the images of an uninterrupted one."
            )
        notes += [unit.readme(self.project) for unit in self.features if unit.readme_part == "data"]
        return notes


def _transform_words(step: T.Transform) -> str:
    """One transform as the blueprint writes it: `pad 2`, `random_crop 32 (padding 4)`."""
    value = getattr(step, step.SHORTHAND) if step.SHORTHAND else None
    if isinstance(step, T.RandomHorizontalFlip) and value == 0.5:
        value = None  # the default
    if isinstance(value, tuple):
        value = value[0] if value[0] == value[1] else f"{value[0]}x{value[1]}"
    words = step.KIND + (f" {value}" if value not in (None, "") else "")
    if isinstance(step, T.RandomCrop) and step.padding:
        words += f" (padding {step.padding})"
    return words
