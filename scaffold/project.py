"""Everything the project templates print, computed from a checked blueprint and its model plan.

Templates receive a `Project` and print its values; they make no decisions beyond including a
block or not. Every string that comes from the user reaches generated Python through
`py_literal` or `docstring_text`, so blueprint text is data, never code.
"""

from __future__ import annotations

import json
import re
import textwrap
from dataclasses import dataclass
from functools import cached_property

import yaml

from . import transforms as T
from .blueprint import (
    Blueprint,
    Normalize,
    Optimizer,
    Phase,
    Schedule,
    Train,
    schedule_interval,
)
from .features import FEATURES, Feature, features_of
from .names import package_name_problem
from .plan import ModelPlan, build_plan
from .presets import NORMALIZE_PRESETS
from .style import LINE_LENGTH

JPEG_DATASETS = ("image_folder", "cub", "vqa")  # image files, worth decoding on the GPU
TORCHVISION_SETS = {"mnist": "MNIST", "cifar10": "CIFAR10"}  # torchvision's class names
NATIVE_CHANNELS = {"mnist": 1, "cifar10": 3}
DATA_NAMES = {"mnist": "MNIST", "cifar10": "CIFAR-10", "cub": "CUB-200-2011"}
# the synthetic shapes: one shape per class, ten shapes
SYNTHETIC_CLASS_LIMIT = 10


def package_problem(name: str) -> str:
    """Why `name` cannot be the generated package's name, or ""."""
    return package_name_problem(name)


def package_name_for(dest_name: str) -> str:
    """DEST's base name made a valid identifier: `my-proj 2` -> `my_proj_2`."""
    name = re.sub(r"\W+", "_", dest_name.strip().lower(), flags=re.ASCII).strip("_")
    if not name:
        name = "project"
    if name[0].isdigit():
        name = "p_" + name
    if package_name_problem(name):  # a keyword, or the name of a module it imports
        name += "_project"
    return name


def py_literal(value) -> str:
    """A Python literal for plain data (str, numbers, bools, None, lists, tuples, dicts)."""
    if isinstance(value, str):
        return _str_literal(value)
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, tuple):
        inner = ", ".join(py_literal(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, list):
        return "[" + ", ".join(py_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{py_literal(k)}: {py_literal(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no literal for {type(value).__name__}")


def _str_literal(text: str) -> str:
    # repr() escapes quotes, backslashes, newlines and non-printables; prefer double quotes as black does
    literal = repr(text)
    if literal.startswith("'") and '"' not in text:
        literal = '"' + literal[1:-1].replace("\\'", "'") + '"'
    return literal


def docstring_text(text: str) -> str:
    """User text made safe inside a triple-quoted docstring (one line, no escapes to misread)."""
    text = " ".join(text.split())
    text = text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    if text.endswith('"'):
        text += " "
    return text


def comment_text(text: str) -> str:
    """User text made safe in a `#` comment (a single line)."""
    return "".join(ch if ch.isprintable() else " " for ch in " ".join(text.split()))


def yaml_text(data) -> str:
    return yaml.safe_dump(
        data, sort_keys=False, default_flow_style=None, allow_unicode=True, width=100
    )


@dataclass(frozen=True)
class Pieces:
    """Which pieces of code a generated project holds, decided here once from its blueprint. The
    templates include or leave out whole pieces by these values, and decide nothing themselves."""

    vqa: bool  # questions and answers (else labelled images)
    in_memory: bool  # small images held in memory as one uint8 tensor
    tensor_images: bool  # in memory, in a data set class of their own (augmented, or on the GPU)
    torchvision: str  # "MNIST" or "CIFAR10": torchvision's copy of the data set (else "")
    cub: bool  # CUB-200-2011's files and bounding boxes
    gpu_decode: bool  # JPEG files decoded on the GPU in batches (--decode gpu)
    on_device: bool  # the whole data set held on the GPU (--data-on-device)
    random_augmentation: bool  # training transforms with random choices, seeded per sample
    loader_workers: bool  # loader processes (--workers): none for a tensor in memory, not augmented
    phases: bool  # phases that train only some modules
    pretrained: bool  # torchvision weights to start from
    any_size: bool  # the model takes other image sizes too (--image-size)
    convert_channels: bool  # images whose channels differ from the model's input are converted
    optimizers: tuple[str, ...]  # the optimizers the phases name
    schedules: tuple[str, ...]  # the learning-rate schedules the phases name
    feature_cache: bool  # the feature cache unit is on (data.py and the README still ask)
    # training features a blueprint switches on (each absent from projects that leave it off)
    features: tuple[str, ...]  # the units of scaffold/features/ it has, by name, in their order
    per_step: bool  # the schedules move after every optimizer step (else once an epoch)


@dataclass
class Project:
    package: str
    blueprint: Blueprint
    plan: ModelPlan | None = None  # the blueprint's plan, when the caller has made it already

    def __post_init__(self) -> None:
        if self.plan is None:
            self.plan = build_plan(self.blueprint)

    # --- names and text -----------------------------------------------------------------------

    def wrapped(self, text: str, indent: int = 0) -> str:
        """Prose assembled by a template, its paragraphs filled to the line length, for docstrings
        black leaves as they are: the first line follows opening quotes; with an `indent`, those of
        a function's docstring, and the other lines are indented."""
        paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", text.strip())]
        pad = " " * indent
        first = pad + '"""'  # the opening quotes count on the first line
        options = {
            "subsequent_indent": pad,
            "break_on_hyphens": False,
        }  # `--no-compile`, "DATE-TIME" and "mid-epoch" stay whole
        filled = [
            textwrap.fill(p, LINE_LENGTH, initial_indent=pad if i else first, **options)
            for i, p in enumerate(p for p in paragraphs if p)
        ]
        return "\n\n".join(filled)[len(first) :]

    @property
    def name(self) -> str:
        return self.blueprint.name

    @property
    def name_literal(self) -> str:
        return py_literal(self.blueprint.name)

    @property
    def title(self) -> str:
        return comment_text(self.blueprint.description or self.blueprint.name)

    @property
    def toml_description(self) -> str:
        """The description as a TOML basic string (JSON's escapes are valid TOML; DEL is not allowed raw)."""
        text = " ".join((self.blueprint.description or self.blueprint.name).split())
        return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")

    @property
    def docstring(self) -> str:
        return docstring_text(self.blueprint.description or f"The {self.blueprint.name} model.")

    @property
    def class_name(self) -> str:
        return self.plan.class_name

    @property
    def is_vqa(self) -> bool:
        return self.blueprint.is_vqa

    @property
    def dataset(self) -> str:
        return self.blueprint.data.dataset

    @cached_property
    def pieces(self) -> Pieces:
        bp, phases = self.blueprint, self.phases
        schedules = [phase["schedule"] for phase in phases]
        names = [unit.name for unit in self.features]
        return Pieces(
            vqa=bp.is_vqa,
            in_memory=bp.in_memory,
            tensor_images=bp.in_memory
            and (T.is_random(bp.data.transforms.train) or bp.data.on_device),
            torchvision=TORCHVISION_SETS.get(self.dataset, ""),
            cub=self.dataset == "cub",
            gpu_decode=self.dataset in JPEG_DATASETS,
            on_device=bp.data.on_device,
            random_augmentation=T.is_random(bp.data.transforms.train),
            loader_workers=bp.loader_workers,
            phases="phases" in names,
            pretrained=bool(self.plan.pretrained),
            any_size=self.plan.size_agnostic,
            convert_channels=self.image.channels not in (1, 3)
            or NATIVE_CHANNELS.get(self.dataset, self.image.channels) != self.image.channels,
            optimizers=tuple(sorted({phase["optimizer"]["name"] for phase in phases})),
            schedules=tuple(sorted({schedule["name"] for schedule in schedules})),
            feature_cache="feature_cache" in names,
            **self._feature_pieces(schedules),
        )

    def _feature_pieces(self, schedules: list[dict]) -> dict:
        train = self.blueprint.train
        return {
            "features": tuple(unit.name for unit in self.features),
            "per_step": any(
                schedule_interval(self.blueprint, s) == "step" for s in _schedules(train)
            ),
        }

    @cached_property
    def features(self) -> tuple[Feature, ...]:
        """The training features (units) the blueprint switches on, in their order."""
        return tuple(unit for unit in FEATURES if unit.on_project(self))

    @property
    def torchvision_folder(self) -> str:
        """The folder torchvision keeps the data set in, inside its root."""
        return {"mnist": "MNIST", "cifar10": "cifar-10-batches-py"}.get(self.dataset, "")

    @staticmethod
    def py_literal(value) -> str:
        return py_literal(value)

    @property
    def resumed_flags(self) -> str:
        """RESUMED_FLAGS: the flags that change what a run computes, as a tuple literal."""
        x = self.pieces
        flags = ["limit_batches", "skip_nonfinite", "precision"]
        flags += ["skip_bad_images"] if not x.in_memory else []
        flags += ["data_on_device"] if x.on_device else []
        flags += [name for unit in self.features for name in unit.resumed_flags]
        return py_literal(tuple(flags))

    @property
    def read_mode(self) -> str:
        """How image files are decoded: torchvision's ImageReadMode."""
        return "GRAY" if self.image.channels == 1 else "RGB"

    @property
    def data_name(self) -> str:
        """The blueprint's data set as people write it: MNIST, CIFAR-10, CUB-200-2011."""
        return DATA_NAMES.get(self.dataset, self.dataset)

    @property
    def image(self):
        return self.blueprint.image

    @property
    def num_classes(self) -> int:
        return self.plan.num_classes

    @property
    def synthetic_classes(self) -> int:
        """Classes of the built-in synthetic shapes: the blueprint's, up to SYNTHETIC_CLASS_LIMIT."""
        return min(self.num_classes, SYNTHETIC_CLASS_LIMIT)

    @property
    def synthetic_text(self) -> str:
        """The README's words on the built-in synthetic data: one shape per class (mask.py draws
        SYNTHETIC_CLASS_LIMIT shapes, so a class never repeats a shape)."""
        if self.pieces.vqa:
            return (
                'images of shapes with questions whose answers depend on the image ("what colour '
                'is the circle?", "is there a square?", "how many triangles are there?")'
            )
        return f"procedurally drawn shapes in {self.synthetic_classes} classes, one shape each"

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
    def float32_pooling(self) -> bool:
        """The model has bilinear pooling, whose products run in true float32 (TF32 off inside)."""
        return "MeanOuterProduct" in self.plan.code.defines

    @property
    def tf32_text(self) -> str:
        """The README's words on TF32: on for matrix products, but not where a block promises
        true float32 (bilinear pooling's mean outer product)."""
        if self.float32_pooling:
            return "TF32 matmuls (not in the bilinear pooling, which stays in true float32)"
        return "TF32 matmuls"

    @property
    def bench_data_text(self) -> str:
        """What `bench --data-root` measures besides compute, for the README's comment."""
        if self.pieces.gpu_decode:
            return "and end to end, decoding on the CPU and the GPU"
        return "and end to end, with the real loader"

    @property
    def classes_code(self) -> str:
        """`CLASSES = [...]` laid out as black would, so that it has nothing to do."""
        names = self.blueprint.class_names
        line = f"CLASSES = {py_literal(names) if names else 'None'}"
        if len(line) <= LINE_LENGTH or not names:
            return line
        return "CLASSES = [\n" + "".join(f"    {py_literal(n)},\n" for n in names) + "]"

    @property
    def params_text(self) -> str:
        return f"{self.plan.total_params:,}"

    @property
    def input_text(self) -> str:
        i = self.image
        return f"{i.channels}x{i.height}x{i.width}"

    # --- model.py -----------------------------------------------------------------------------

    @property
    def model_signature(self) -> str:
        args = [f"num_classes: int = {self.num_classes}"]
        if self.is_vqa:
            args.insert(0, f"vocab_size: int = {self.plan.vocab_size}")
        return ", ".join(args)

    @property
    def model_args_literal(self) -> str:
        """Keyword arguments of the model class with the blueprint's values, as code."""
        if self.is_vqa:
            return f"vocab_size={self.plan.vocab_size}, num_classes={self.num_classes}"
        return f"num_classes={self.num_classes}"

    @property
    def pretrained(self):
        return self.plan.pretrained[0] if self.plan.pretrained else None

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
    def auxiliary_text(self) -> str:
        """The auxiliary heads for prose: `aux1` (0.3) and `aux2` (0.3)."""
        heads = [f"`{head.name}` ({head.weight:g})" for head in self.plan.auxiliary]
        return heads[0] if len(heads) == 1 else ", ".join(heads[:-1]) + " and " + heads[-1]

    @property
    def head_prefixes(self) -> str:
        """The state_dict prefixes of the classifiers that load only with ImageNet's classes, as
        Python: the model's (`"fc."`), or with the auxiliary heads' a tuple."""
        pre = self.pretrained
        prefixes = [f"{pre.head}.", *(f"{head}." for head in pre.aux_heads)]
        if len(prefixes) == 1:
            return json.dumps(prefixes[0])
        return "(" + ", ".join(json.dumps(prefix) for prefix in prefixes) + ")"

    @property
    def backbone_renamed(self) -> bool:
        """Whether the pretrained backbone's attribute differs from torchvision's name for it."""
        pre = self.pretrained
        return bool(pre and pre.target and pre.source_prefix != pre.target + ".")

    @property
    def weights_description(self) -> str:
        """torchvision's weights the project loads, as named in a log line."""
        pre = self.pretrained
        return f"torchvision {pre.weights_enum}.{pre.weights_member}" if pre else ""

    @property
    def forward_shape_note(self) -> str:
        i = self.image
        return f"{i.channels}x{i.height}x{i.width}"

    # --- data ---------------------------------------------------------------------------------

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
    def transforms_use_size(self) -> bool:
        """Whether the transforms are written in terms of the run's image size (`size`)."""
        if not self.plan.size_agnostic:
            return False
        steps = self.blueprint.data.transforms.train + self.blueprint.data.transforms.eval
        return any(not isinstance(step, (T.Pad, *T.SIZE_KEEPING)) for step in steps)

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
    def source_size(self) -> tuple[int, int] | None:
        return self.blueprint.source_size

    @property
    def source_size_reason(self) -> str:
        """Why images have SOURCE_SIZE, in words."""
        if self.dataset == "synthetic":
            return "the size the blueprint's transforms take"
        return f"{self.data_name}'s size, which the blueprint's transforms take"

    @property
    def source_size_note(self) -> str:
        """What SOURCE_SIZE is, as a comment."""
        if self.dataset == "synthetic":
            return "the synthetic shapes are drawn at this size; the transforms make it the input"
        return f"{self.data_name}'s images, which the transforms make the model's input"

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
    def lstm(self) -> bool:
        """The model has an LSTM: torch's on the CPU (oneDNN) fails under bf16 and fp16 autocast."""
        return any(row.kind.startswith("lstm") for row in self.plan.rows)

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

    # --- configs/default.yaml -----------------------------------------------------------------

    @cached_property
    def phases(self) -> list[dict]:
        return resolved_phases(self.blueprint)

    @property
    def has_phases(self) -> bool:
        """More than one phase, or one that trains only some modules: the phases unit is on."""
        return "phases" in self.pieces.features

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

    @cached_property
    def config(self) -> dict:
        bp = self.blueprint
        data = bp.data
        # (the data set is the code's: data.py reads its files and no other, so no setting names it)
        config_data: dict = {"root": data.root}
        if self.pieces.any_size:  # a model of one input size has it in its code (--image-size)
            config_data["image_size"] = [self.image.height, self.image.width]
        if self.pieces.loader_workers:  # (a tensor in memory, not augmented, has no workers)
            config_data["num_workers"] = data.num_workers
        config_data["val_split"] = data.val_split
        if data.dataset == "cub":
            config_data["bounding_boxes"] = data.bounding_boxes
        if self.is_vqa:
            config_data["answers"] = data.answers
            config_data["min_word_count"] = data.min_word_count
            config_data["max_question_length"] = bp.input.question.max_length
        config_data["synthetic"] = {
            "train_size": data.synthetic.train_size,
            "val_size": data.synthetic.val_size,
        }
        # one phase that trains everything is no phase: its settings are train's own, as in the
        # blueprint, and the project has no code for phases
        train = {} if self.has_phases else {key: self.phases[0][key] for key in RECIPE_KEYS}
        train |= {"grad_clip": bp.train.grad_clip, "label_smoothing": bp.train.label_smoothing}
        train |= self._feature_config
        if self.has_phases:  # `frozen` only where everything else trains (the blueprint's rule)
            train["phases"] = [
                (
                    {key: value for key, value in phase.items() if key != "frozen" or value}
                    if phase["trainable"] != "all"
                    else phase
                )
                for phase in self.phases
            ]
        return {"seed": bp.train.seed, "data": config_data, "train": train}

    @cached_property
    def feature_values(self) -> dict[str, dict]:
        """What each training feature's partial prints, by the feature's name."""
        return {unit.name: unit.values(self) for unit in self.features}

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
        notes += [unit.readme(self) for unit in self.features if unit.readme_part == "data"]
        return notes

    @property
    def feature_imports(self) -> list[str]:
        """train.py's imports of the training features' code, sorted."""
        return sorted(line for unit in self.features for line in unit.imports)

    @property
    def feature_modules(self) -> list[str]:
        """The standard library's modules train.py imports for the training features' code."""
        return [module for unit in self.features for module in unit.stdlib_imports(self)]

    @property
    def feature_dependencies(self) -> list[str]:
        """What the training features' code needs installed, for pyproject.toml."""
        return [requirement for unit in self.features for requirement in unit.dependencies]

    @property
    def extras(self) -> dict[str, list[str]]:
        """pyproject.toml's optional dependencies of the training features, by extra."""
        return {name: deps for unit in self.features for name, deps in unit.extras(self).items()}

    @property
    def _feature_config(self) -> dict:
        """The settings of the training features the blueprint switches on (and no others)."""
        train = self.blueprint.train
        config: dict = {}
        for unit in self.features:
            config |= unit.config(train)
        return config

    @property
    def config_keys(self) -> list[str]:
        """The config's settings that train.py's read_config requires (a phase's own are added
        there, for each phase the file has), in chunks that fit a line of code."""
        workers = ["data.num_workers"] if self.pieces.loader_workers else []
        size = ["data.image_size"] if self.pieces.any_size else []
        keys = ["seed", *size, *workers, "data.root", "data.val_split"]
        keys += ["train.grad_clip", "train.label_smoothing"]
        recipe = ["epochs", "batch_size", "optimizer.lr", "schedule.name"]
        keys += ["train.phases[0]"] if self.has_phases else [f"train.{key}" for key in recipe]
        for key, value in self._feature_config.items():
            inner = value.keys() if isinstance(value, dict) else [None]
            keys += [f"train.{key}" + (f".{part}" if part else "") for part in inner]
        return textwrap.wrap(" ".join(keys), LINE_LENGTH - 16)  # `    keys += " ` and `"`

    @property
    def setting_choices(self) -> str:
        """train.py's CHOICES, as a literal."""
        return py_literal(self._choices)

    @cached_property
    def _choices(self) -> dict[str, tuple[str, ...]]:
        """For --set, the values a setting that names code may take, those this project has code
        for (an optimizer or schedule whose settings its entry holds, and no other), by path ([]
        is any index)."""
        x, choices = self.pieces, {}
        paths = [f"train.phases[{i}]" for i in range(len(self.phases))] if x.phases else ["train"]
        for path, phase in zip(paths, self.phases):
            optimizer, schedule = phase["optimizer"], phase["schedule"]
            choices[f"{path}.optimizer.name"] = tuple(
                name for name in x.optimizers if OPTIMIZER_DEFAULTS[name].keys() <= optimizer.keys()
            )
            choices[f"{path}.schedule.name"] = tuple(
                name for name in x.schedules if self._schedule_reads(name) <= schedule.keys()
            )
            if "metric" in schedule:
                choices[f"{path}.schedule.metric"] = ("val_acc", "val_loss")
        if x.phases:
            choices["train.phases[].trainable"] = ("all",)
        for unit in self.features:
            choices |= unit.choices(self.blueprint.train)
        return choices

    @property
    def setting_least(self) -> str:
        """train.py's LEAST, for --set: the least value of the counts that must be 1 or more (and
        of the image size, where the model takes other sizes), by path ([] is any index)."""
        recipe = "train.phases[]" if self.pieces.phases else "train"
        counts = [f"{recipe}.epochs", f"{recipe}.batch_size", f"{recipe}.schedule.step_size"]
        counts += ["data.synthetic.train_size", "data.synthetic.val_size"]
        counts += [path for unit in self.features for path in unit.least]
        counts += ["data.answers", "data.max_question_length"]
        paths = {re.sub(r"\[\d+\]", "[]", path) for path, _ in _leaves(self.config)}
        least = {path: 1 for path in counts if path in paths}
        if self.pieces.any_size:
            least["data.image_size[]"] = self.plan.min_image_size
        return py_literal(least)

    @property
    def setting_most(self) -> str:
        """train.py's MOST, for --set: the largest value of the bounded numbers, as a blueprint
        may write them (a validation split of 0.9 at most), by path ([] is any index)."""
        recipe = "train.phases[]" if self.pieces.phases else "train"
        most = {"data.val_split": 0.9, "train.label_smoothing": 1}
        most |= {path: value for unit in self.features for path, value in unit.most.items()}
        most |= {f"{recipe}.optimizer.{key}": 1 for key in ("momentum", "weight_decay")}
        paths = {re.sub(r"\[\d+\]", "[]", path) for path, _ in _leaves(self.config)}
        return py_literal({path: value for path, value in most.items() if path in paths})

    @property
    def flag_settings(self) -> str:
        """train.py's FLAG_SETTINGS: the flags (by argparse's names) that give a setting of the
        config, and its path ([] is any index)."""
        x = self.pieces
        recipe = "train.phases[]" if x.phases else "train"
        flags = {"seed": "seed", "data_root": "data.root", "val_split": "data.val_split"}
        flags |= {"epochs": f"{recipe}.epochs", "batch_size": f"{recipe}.batch_size"}
        flags |= {"lr": f"{recipe}.optimizer.lr"}
        if x.any_size:
            flags["image_size"] = "data.image_size"
        if x.loader_workers:
            flags["workers"] = "data.num_workers"
        for unit in self.features:
            flags |= unit.flags
        return py_literal(flags)

    def _schedule_reads(self, name: str) -> set[str]:
        """The settings phases.py's make_schedule reads for the schedule `name`."""
        reads = {"step": {"step_size"}, "multistep": {"milestones"}}.get(name, set())
        reads |= SCHEDULE_DEFAULTS[name].keys()
        for unit in self.features:
            reads |= unit.schedule_reads(self, name)
        return reads

    @property
    def setting_kinds(self) -> str:
        """train.py's KINDS, for --set: the kinds of value of the settings whose value in the
        config does not tell, by path ([] is any index): those that may be null, a phase's
        `trainable` (all, or a list of modules), the items of empty lists."""
        kinds: dict[str, tuple[str, ...]] = {}
        nullable = NULLABLE_SETTINGS | {k: v for u in self.features for k, v in u.nullable.items()}

        def walk(value, path: str) -> None:
            if isinstance(value, dict):
                for key, inner in value.items():
                    walk(inner, f"{path}.{key}".lstrip("."))
            elif isinstance(value, list) and value and isinstance(value[0], dict):
                for inner in value:
                    walk(inner, f"{path}[]")
            elif path.rpartition(".")[2] in nullable:
                kinds[path] = (nullable[path.rpartition(".")[2]], "type(None)")

        walk(self.config, "")
        if self.pieces.phases:
            kinds["train.phases[].trainable"] = ("str", "list")
            kinds["train.phases[].trainable[]"] = kinds["train.phases[].frozen[]"] = ("str",)
        for unit in self.features:
            kinds |= unit.kinds(self.blueprint.train)
        tuples = {
            path: ", ".join(kind) + ("," if len(kind) == 1 else "") for path, kind in kinds.items()
        }
        inner = (f"{py_literal(path)}: ({kind})" for path, kind in tuples.items())
        return "{" + ", ".join(inner) + "}"

    # --- tests/test_config.py -----------------------------------------------------------------

    @property
    def small_settings(self) -> list[str]:
        """--set settings that make the data small and quick, for the test's configs."""
        return [f"{key}={json.dumps(value)}" for key, value in self._small.items()]

    @cached_property
    def _small(self) -> dict:
        settings = {"data.synthetic.train_size": 8, "data.synthetic.val_size": 4}
        if self.pieces.loader_workers:
            settings["data.num_workers"] = 0
        if self.pieces.any_size:
            size = self.smoke_image_size
            settings["data.image_size"] = [size, round(size * self.image.width / self.image.height)]
        for path in self._recipe_paths:
            settings[f"{path}.batch_size"] = 2
        return settings

    @property
    def _recipe_paths(self) -> list[str]:
        """Where the config keeps each phase's epochs, batch size, optimizer and schedule."""
        if self.pieces.phases:
            return [f"train.phases[{i}]" for i in range(len(self.phases))]
        return ["train"]

    @cached_property
    def config_checks(self) -> dict:
        """How tests/test_config.py shows that each setting of the config changes what runs: by
        "probe" (what the test builds and compares, with `value` for the setting and its default),
        by "run" (one short training run, `value` for each setting, the test checking where it
        went) or "refused" (`value`: a name this project has no code for); or "informational",
        with the reason. Every setting of the config is in one of them."""
        checks: dict = {"probe": {}, "run": {}, "refused": {}, "informational": {}}
        choices = self._choices
        for path, value in _leaves(self.config):
            value, name = self._small.get(path, value), path.rpartition(".")[2]
            group = path.rpartition(".")[0].rpartition(".")[2]
            unit_check = next(
                filter(None, (u.setting_check(path, value) for u in self.features)), None
            )
            if unit_check is not None:  # a training feature's own setting
                checks[unit_check[0]][path] = unit_check[1]
            elif group in ("optimizer", "schedule") and name == "name":
                others = [n for n in choices[path] if n != value]
                if others:
                    checks["probe"][path] = (group, others[0])
                else:  # a name the project has no code for
                    known = OPTIMIZER_DEFAULTS if group == "optimizer" else SCHEDULE_DEFAULTS
                    checks["refused"][path] = next(n for n in known if n not in choices[path])
            elif group == "optimizer":
                checks["probe"][path] = ("optimizer", _changed(name, value))
            elif group == "schedule":
                lr = self._at(path.rpartition(".")[0].rpartition(".")[0])["optimizer"]["lr"]
                changed = lr * 0.5 if name == "min_lr" else _changed(name, value)
                checks["probe"][path] = ("schedule", changed)
            elif name in ("epochs", "batch_size", "label_smoothing", "grad_clip"):
                checks["run"][path] = _run_value(name, value, path, self._recipe_paths)
            elif name in ("trainable", "frozen"):
                first = self.plan.first_module.module
                other = [first] if value == "all" else ("all" if name == "trainable" else [])
                if value == []:
                    other = [first]
                checks["probe"][path] = ("trainable", other)
            elif name == "name":
                checks["informational"][
                    path
                ] = "the phase's name, in the log and in metrics.csv's phase column"
            elif path == "data.num_workers":
                checks["probe"][path] = ("loader", 1)
            elif path == "data.root":
                checks["probe"][path] = ("data", "{folder}")
            elif path in ("data.val_split", "data.bounding_boxes"):
                checks["probe"][path] = ("folder", _changed(name, value))
            elif path == "data.image_size":
                checks["probe"][path] = ("data", [2 * side for side in value])
            elif path.startswith("data.") or path == "seed":
                checks["probe"][path] = ("data", _changed(name, value))
            else:
                raise ValueError(f"tests/test_config.py has no check for the setting {path}")
        return checks

    @property
    def last_recipe(self) -> str:
        """Where the config keeps the last phase's settings (or train's own)."""
        return self._recipe_paths[-1]

    def _at(self, path: str):
        """The config's value at `path` (train.phases[0].optimizer)."""
        value = self.config
        for part in path.replace("]", "").replace("[", ".").split("."):
            value = value[int(part) if isinstance(value, list) else part]
        return value

    @property
    def extra_metrics(self) -> list[str]:
        """The columns metrics.csv has after the ones every project writes (checkpoint.METRICS)."""
        x = self.pieces
        columns = ["phase"] if x.phases else []
        columns += [column for unit in self.features for column in unit.metrics(self)]
        return columns

    @property
    def feature_lines(self) -> list[str]:
        """The README's list of the training features the blueprint switches on, in words: one
        Markdown item each, filled to the line length (none for a blueprint that switches none
        on)."""
        items = self._recipe_features() + self._data_features()
        return [
            textwrap.fill(
                item,
                LINE_LENGTH,
                initial_indent="- ",
                subsequent_indent="  ",
                break_on_hyphens=False,
            )
            for item in items
        ]

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
        lines += [unit.readme(self) for unit in self.features if unit.readme_part == "recipe"]
        lines = [line for line in lines if line is not None]  # (a feature may have none)
        if x.per_step:
            lines.append(
                "**A per-step schedule**: the learning rate moves after every optimizer step, "
                "its epochs (warm-up included) counted in steps; metrics.csv's `lr` is the rate "
                "at the epoch's end."
            )
        return lines

    @property
    def config_yaml(self) -> str:
        return yaml_text(self.config)

    @property
    def total_epochs(self) -> int:
        return sum(p["epochs"] for p in self.phases)

    @property
    def batch_size(self) -> int:
        return self.phases[0]["batch_size"]

    @property
    def bench_batch_size(self) -> int:
        return 32 if self.image.height >= 224 else 128

    @property
    def test_batches_per_epoch(self) -> int:
        """Batches an epoch of the generated tests' SIGTERM run: two optimizer steps (of
        `batches_per_step` each), so that the signal falls in the middle of an epoch."""
        return 2 * self.batches_per_step

    @property
    def batches_per_step(self) -> int:
        """Batches an optimizer step takes (several, where a feature adds up their gradients)."""
        train = self.blueprint.train
        return max((unit.batches_per_step(train) for unit in self.features), default=1)

    @property
    def sigterm_step(self) -> int:
        """The batch during which that run sends itself SIGTERM: the first of its last epoch (an
        epoch a phase)."""
        return self.test_batches_per_epoch * (len(self.phases) - 1) + 1

    @property
    def smoke_image_size(self) -> int:
        """A small image size for quick CPU runs of models that accept any size."""
        if not self.plan.size_agnostic:
            return self.image.height
        return max(self.plan.min_image_size, min(32, self.image.height))


def _leaves(config, path: str = ""):
    """Each setting of a config with its path (train.phases[0].optimizer.lr): lists of mappings
    are walked by index, other lists are one setting."""
    if isinstance(config, dict):
        for key, value in config.items():
            yield from _leaves(value, f"{path}.{key}".lstrip("."))
    elif isinstance(config, list) and config and isinstance(config[0], dict):
        for index, value in enumerate(config):
            yield from _leaves(value, f"{path}[{index}]")
    else:
        yield path, config


# values tests/test_config.py sets settings to, where half or double the default will not do
CHANGED = {
    "momentum": 0.5, "betas": [0.5, 0.6], "alpha": 0.5, "eps": 0.1,
    "answers": 2, "min_word_count": 3, "max_question_length": 2, "milestones": [1],
    "val_split": 0.5, "patience": 1, "factor": 0.5, "gamma": 0.5,
}  # fmt: skip


def _changed(name: str, value):
    """Another value than `value` for the setting `name`, that changes what runs."""
    if name == "metric":
        return "val_loss" if value == "val_acc" else "val_acc"
    if isinstance(value, bool):
        return not value
    other = CHANGED.get(name)
    if other is not None and other != value:
        return other
    if name == "train_size" or name == "val_size":
        return value + 4
    if isinstance(value, int):
        return value + 1 if name != "patience" else value + 2
    if isinstance(value, float):
        return value * 0.5 if value else 0.1
    if isinstance(value, list) and value and all(isinstance(v, (int, float)) for v in value):
        return [v + 1 if isinstance(v, int) else v * 0.5 for v in value]
    raise ValueError(f"tests/test_config.py has no other value for {name}={value!r}")


def _run_value(name: str, value, path: str, recipes: list[str]):
    """The value of a setting in tests/test_config.py's run: one epoch a phase (two where the
    config says one), a batch size of its own for each phase, label smoothing and a clip."""
    if name == "epochs":
        return 1 if value != 1 else 2
    if name == "batch_size":
        return 3 + recipes.index(path.rpartition(".")[0])
    return 0.25 if value != 0.25 else 0.5


# the settings that may be null (off, or: not given), by name, and what they are otherwise
NULLABLE_SETTINGS = {"root": "str", "grad_clip": "float"}

# the settings of a phase that a project without phases keeps directly under train
RECIPE_KEYS = ("epochs", "batch_size", "optimizer", "schedule")


def resolved_phases(bp: Blueprint) -> list[dict]:
    """The training phases with every setting filled in (phase settings over train's)."""
    train = bp.train
    phases: list[Phase] = train.phases or [Phase(name="train", epochs=train.epochs)]
    result = []
    units = features_of(bp)
    for i, phase in enumerate(phases):
        optimizer = _merge_optimizer(train.optimizer, phase.optimizer)
        schedule = phase.schedule or train.schedule or Schedule(name="constant")
        result.append(
            {
                "name": phase.name or (f"phase{i + 1}" if len(phases) > 1 else "train"),
                "epochs": phase.epochs,
                "batch_size": phase.batch_size or train.batch_size,
                "trainable": phase.trainable,
                "frozen": list(phase.frozen),
                "optimizer": _optimizer_dict(optimizer),
                "schedule": _schedule_dict(schedule),
            }
        )
        for unit in units:
            result[-1] |= unit.phase_config(phase)
    for unit in units:
        unit.phases_config(bp, result)
    return result


def _schedules(train: Train) -> list[Schedule]:
    """Every schedule the blueprint writes."""
    given = [train.schedule] + [phase.schedule for phase in train.phases or []]
    return [schedule for schedule in given if schedule is not None]


def _merge_optimizer(base: Optimizer, override: Optimizer | None) -> Optimizer:
    if override is None:
        return base
    if override.name != base.name:
        return override
    merged = Optimizer(name=base.name)
    for key in ("lr", "momentum", "nesterov", "weight_decay", "betas", "alpha", "eps"):
        value = getattr(override, key)
        setattr(merged, key, value if value is not None else getattr(base, key))
    return merged


OPTIMIZER_DEFAULTS = {
    "sgd": {"momentum": 0.9, "nesterov": False, "weight_decay": 0.0},
    "adam": {"betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.0},
    "adamw": {"betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.01},
    "rmsprop": {"alpha": 0.99, "eps": 1e-8, "momentum": 0.0, "weight_decay": 0.0},
}

SCHEDULE_DEFAULTS = {
    "constant": {},
    "step": {"gamma": 0.1},
    "multistep": {"gamma": 0.1},
    "cosine": {"min_lr": 0.0},
    "plateau": {"metric": "val_acc", "factor": 0.1, "patience": 3, "min_lr": 0.0},
}


def _optimizer_dict(opt: Optimizer) -> dict:
    result = {"name": opt.name, "lr": opt.lr}
    for key, default in OPTIMIZER_DEFAULTS[opt.name].items():
        value = getattr(opt, key)
        result[key] = value if value is not None else default
    return result


def _schedule_dict(schedule: Schedule) -> dict:
    result = {"name": schedule.name}
    for key in ("step_size", "milestones"):
        if getattr(schedule, key) is not None:
            result[key] = getattr(schedule, key)
    for key, default in SCHEDULE_DEFAULTS[schedule.name].items():
        value = getattr(schedule, key)
        result[key] = value if value is not None else default
    return result


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
