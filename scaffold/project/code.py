"""Python code in strings: what the templates print into generated modules beyond names and
numbers (the model's signature, its auxiliary heads and pretrained heads, the data's
normalisation and transforms, train.py's imports of the training features' code)."""

from __future__ import annotations

import json

from .. import transforms as T
from ..blueprint import Normalize
from ..presets import NORMALIZE_PRESETS
from ..style import LINE_LENGTH, py_literal
from .part import Part


class CodeText(Part):
    """Python code, as text, that the templates print (`p.code`)."""

    @property
    def name_literal(self) -> str:
        return py_literal(self.blueprint.name)

    @property
    def read_mode(self) -> str:
        """How image files are decoded: torchvision's ImageReadMode."""
        return "GRAY" if self.image.channels == 1 else "RGB"

    @property
    def model_signature(self) -> str:
        args = [f"num_classes: int = {self.plan.num_classes}"]
        if self.blueprint.is_vqa:
            args.insert(0, f"vocab_size: int = {self.plan.vocab_size}")
        return ", ".join(args)

    @property
    def auxiliary_vars(self) -> str:
        """The auxiliary heads' scores as forward returns them in training: `aux1, aux2`."""
        return ", ".join(head.var for head in self.plan.auxiliary)

    @property
    def auxiliary_names(self) -> str:
        """The auxiliary heads' modules, in their order: `aux1, aux2`."""
        return ", ".join(head.name for head in self.plan.auxiliary)

    @property
    def auxiliary_weights(self) -> str:
        """The auxiliary heads' loss weights, in their order, as a Python list: `[0.3, 0.3]`."""
        return repr([head.weight for head in self.plan.auxiliary])

    @property
    def head_prefixes(self) -> str:
        """The state_dict prefixes of the classifiers that load only with ImageNet's classes, as
        Python: the model's (`"fc."`), or with the auxiliary heads' a tuple."""
        pre = self.project.pretrained
        prefixes = [f"{pre.head}.", *(f"{head}." for head in pre.aux_heads)]
        if len(prefixes) == 1:
            return json.dumps(prefixes[0])
        return "(" + ", ".join(json.dumps(prefix) for prefix in prefixes) + ")"

    @property
    def backbone_renamed(self) -> bool:
        """Whether the pretrained backbone's attribute differs from torchvision's name for it."""
        pre = self.project.pretrained
        return bool(pre and pre.target and pre.source_prefix != pre.target + ".")

    @property
    def weights_description(self) -> str:
        """torchvision's weights the project loads, as named in a log line."""
        pre = self.project.pretrained
        return f"torchvision {pre.weights_enum}.{pre.weights_member}" if pre else ""

    @property
    def normalize(self) -> tuple[list[float], list[float]] | None:
        value = self.blueprint.data.normalize
        channels = self.image.channels
        if value == "none":
            return None
        if isinstance(value, Normalize):
            return value.mean, value.std
        if value is None:
            value = "imagenet" if channels == 3 else "half"
        mean, std = NORMALIZE_PRESETS[value]
        if value == "half":
            mean, std = [0.5] * channels, [0.5] * channels
        return list(mean), list(std)

    @property
    def mean_literal(self) -> str:
        return py_literal(tuple(self.normalize[0])) if self.normalize else "None"

    @property
    def std_literal(self) -> str:
        return py_literal(tuple(self.normalize[1])) if self.normalize else "None"

    def transform_code(self, split: str) -> str:
        """The blueprint's transforms for `split` as one v2 transform. In a model that takes any
        image size, sizes are written in terms of the run's `size`, and scale with it."""
        steps = getattr(self.blueprint.data.transforms, split)
        i, scalable = self.image, self.plan.size_agnostic
        code = [_transform_code(step, i.height, i.width, scalable, self.fill) for step in steps]
        if not code:
            return "v2.Identity()"
        if len(code) == 1:
            return code[0]
        return "v2.Compose([" + ", ".join(code) + "])"

    @property
    def transforms_body(self) -> str:
        """The body of build_transforms after its docstring: the training and the evaluation
        transform, on one line where they fit."""
        train, evaluation = self.transform_code("train"), self.transform_code("eval")
        line = f"    return {train}, {evaluation}  # training, evaluation"
        if len(line) <= LINE_LENGTH:
            return line
        return f"    train = {train}\n    evaluation = {evaluation}\n    return train, evaluation"

    @property
    def fill(self) -> tuple[int, ...]:
        """The data's mean colour as uint8 values: what normalisation makes 0 (random erasing
        fills with it, as torchvision's references fill normalised images with 0)."""
        if self.normalize is None:
            return (0,) * self.image.channels
        return tuple(round(255 * m) for m in self.normalize[0])

    @property
    def transforms_scale(self) -> bool:
        """Whether some transform size differs from the input size, and so scales with the run's
        image size (`scaled`)."""
        if not self.plan.size_agnostic:
            return False
        input_size = (self.image.height, self.image.width)
        transforms = self.blueprint.data.transforms
        for step in transforms.train + transforms.eval:
            size = getattr(step, "size", None)
            if isinstance(size, int):
                size = (size, size) if not isinstance(step, T.Resize) else (size, input_size[1])
            if size is not None and tuple(size) != input_size:
                return True
        return False

    @property
    def attention_module(self) -> str:
        """VQA: the module whose output is the grid of image regions the attention weighs (its
        height and width lay out the attention maps, at any image size); "" when the regions
        are the input's pixels."""
        rows = self.plan.rows
        first_region = next(i for i, row in enumerate(rows) if row.shape.kind == "sequence")
        grids = [row for row in rows[:first_region] if row.shape.kind == "image"]
        if not any(row.module for row in grids):
            return ""  # the regions are the input image's own pixels
        last = grids[-1].shape.dims[1:]
        named = [row.module for row in grids if row.module and row.shape.dims[1:] == last]
        return named[-1]

    @property
    def feature_imports(self) -> list[str]:
        """train.py's imports of the training features' code, sorted."""
        return sorted(line for unit in self.features for line in unit.imports)

    @property
    def feature_modules(self) -> list[str]:
        """The standard library's modules train.py imports for the training features' code."""
        return [module for unit in self.features for module in unit.stdlib_imports(self.project)]


def _transform_code(
    step: T.Transform, height: int, width: int, scalable: bool, fill: tuple[int, ...]
) -> str:
    """One v2 transform as code. Where `scalable`, sizes equal to the input size become `size`
    (the run's image size) and others scale with it: scaled(256) at 224 px input gives 256 at
    224 px; otherwise sizes are numbers. `fill`: the mean colour, what random erasing fills with."""

    def size(value) -> str:
        h, w = (height, width) if value is None else tuple(value)
        if not scalable:
            return str(h) if h == w else f"({h}, {w})"
        if (h, w) == (height, width):
            return "size"
        return f"scaled({h})" if h == w else f"(scaled({h}), scaled({w}))"

    if isinstance(step, T.Resize):
        if isinstance(step.size, int):
            target = step.size
            if scalable:
                target = "size[0]" if step.size == height else f"scaled({step.size})"
            return f"v2.Resize({target}, antialias=True)"
        # [h, w] sets both sides, equal or not: Resize(h) would set the shorter side only
        h, w = (height, width) if step.size is None else tuple(step.size)
        if not scalable:
            return f"v2.Resize(({h}, {w}), antialias=True)"
        target = "size" if (h, w) == (height, width) else f"(scaled({h}), scaled({w}))"
        return f"v2.Resize({target}, antialias=True)"
    if isinstance(step, T.CenterCrop):
        return f"v2.CenterCrop({size(step.size)})"
    if isinstance(step, T.RandomCrop):
        padding = f", padding={step.padding}" if step.padding else ""
        return f"v2.RandomCrop({size(step.size)}{padding})"
    if isinstance(step, T.RandomResizedCrop):
        scale = "" if step.scale == [0.08, 1.0] else f", scale={py_literal(tuple(step.scale))}"
        return f"v2.RandomResizedCrop({size(step.size)}{scale}, antialias=True)"
    if isinstance(step, T.RandomHorizontalFlip):
        return (
            "v2.RandomHorizontalFlip()"
            if step.p == 0.5
            else f"v2.RandomHorizontalFlip(p={step.p!r})"
        )
    if isinstance(step, T.Pad):
        return f"v2.Pad({step.padding})"
    if isinstance(step, T.RandAugment):
        args = [f"num_ops={step.num_ops}"] if step.num_ops != 2 else []
        args += [f"magnitude={step.magnitude}"] if step.magnitude != 9 else []
        # bilinear as torchvision's references (the class's default is nearest)
        args += ["interpolation=v2.InterpolationMode.BILINEAR"]
        return f"v2.RandAugment({', '.join(args)})"
    if isinstance(step, T.TrivialAugment):
        args = (
            [f"num_magnitude_bins={step.num_magnitude_bins}"]
            if step.num_magnitude_bins != 31
            else []
        )
        return f"v2.TrivialAugmentWide({', '.join([*args, 'interpolation=v2.InterpolationMode.BILINEAR'])})"
    if isinstance(step, T.AutoAugment):
        policy = f"v2.AutoAugmentPolicy.{step.policy.upper()}"
        return f"v2.AutoAugment({policy}, interpolation=v2.InterpolationMode.BILINEAR)"
    if isinstance(step, T.RandomErasing):
        args = [f"p={step.p!r}"]
        args += [f"scale={py_literal(tuple(step.scale))}"] if step.scale != [0.02, 0.33] else []
        args += [f"ratio={py_literal(tuple(step.ratio))}"] if step.ratio != [0.3, 3.3] else []
        args += [f"value={py_literal(list(fill))}"]
        return f"v2.RandomErasing({', '.join(args)})"
    raise TypeError(step)
