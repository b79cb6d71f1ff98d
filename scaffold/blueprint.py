"""The blueprint: what a user writes, read into typed sections with every problem located.

`load_blueprint(path)` reads and checks a file; `blueprint_from_data(dict)` does the same for
a blueprint replayed from a generated project's `.copier-answers.yml`. Shape checking of the
model happens afterwards, in `scaffold.plan`.
"""

from __future__ import annotations

from dataclasses import field
from pathlib import Path
from typing import Any

from .blocks.base import DEFINED
from .errors import BlueprintError, Location, Problem, ProblemCollector
from .features import FEATURES, check_steps, unit_fields
from .layers import IDENTIFIER, BlocksType, LayerList, Name
from .names import class_name_problem
from .presets import NORMALIZE_PRESETS
from .source import MapNode, Node, from_plain, parse_yaml, to_plain
from .spec import (
    INVALID,
    Bool,
    Enum,
    FieldType,
    Float,
    Int,
    ListOf,
    OneOf,
    Section,
    Str,
    Struct,
    read_section,
    section,
    show,
    spec_field,
)
from .transforms import (
    AutoAugment,
    RandAugment,
    RandomErasing,
    TransformList,
    TrivialAugment,
    input_size_for,
    is_random,
    output_size,
)

MAX_BLUEPRINT_BYTES = 1_000_000

# --- input ------------------------------------------------------------------------------------


@section
class ImageInput(Section):
    """An image input: channels x height x width."""

    channels: int = spec_field(Int(min=1, max=64), doc="image channels (3 for RGB, 1 for grey)")
    height: int = spec_field(Int(min=1, max=16384), doc="image height in pixels")
    width: int = spec_field(Int(min=1, max=16384), doc="image width in pixels")

    @property
    def shape_text(self) -> str:
        return f"{self.channels}x{self.height}x{self.width}"


@section
class QuestionInput(Section):
    """A question input: a sequence of word tokens."""

    max_length: int = spec_field(Int(min=1, max=1000), 30, "questions are cut to this many words")
    vocab_size: int = spec_field(
        Int(min=3, max=10_000_000),
        10000,
        "vocabulary size assumed by `scaffold inspect`; training builds the real one from the data",
    )


@section
class TwoInputs(Section):
    """An image and a question (visual question answering)."""

    image: ImageInput = spec_field(Struct(ImageInput), doc="the image input")
    question: QuestionInput = spec_field(Struct(QuestionInput), {}, "the question input")


class InputType(FieldType):
    """`input` is either one image, or `image` and `question`: told apart by their keys."""

    def read(self, node: Node, path: str, problems: ProblemCollector) -> Any:
        if isinstance(node, MapNode) and ({"image", "question"} & set(node.entries)):
            section = read_section(TwoInputs, node, path, problems)
            if section is not INVALID and section.question == {}:
                section.question = QuestionInput()
            return section
        return Struct(ImageInput).read(node, path, problems)

    def schema(self) -> dict[str, Any]:
        return {"anyOf": [Struct(ImageInput).schema(), Struct(TwoInputs).schema()]}

    def describe(self) -> str:
        return "a mapping"


# --- model ------------------------------------------------------------------------------------


@section
class Model(Section):
    """The network: `layers` for one image input, or `image`, `question` and `head` for VQA."""

    class_name: str | None = spec_field(Name, None, "name of the generated nn.Module class")
    pretrained: str | None = spec_field(
        Str(pattern=r"torchvision/\w+", what="torchvision/NAME"),
        None,
        "load torchvision ImageNet weights into the whole model, e.g. torchvision/resnet50",
    )
    layers: list | None = spec_field(LayerList, None, "the layers, in order, for one image input")
    image: list | None = spec_field(LayerList, None, "image branch (two-input models)")
    question: list | None = spec_field(LayerList, None, "question branch (two-input models)")
    head: list | None = spec_field(LayerList, None, "where the branches meet (two-input models)")


# --- data -------------------------------------------------------------------------------------

IMAGE_DATASETS = ("synthetic", "image_folder", "cifar10", "mnist", "cub")
IN_MEMORY_DATASETS = ("synthetic", "cifar10", "mnist")  # small images, held as one tensor
NATIVE_SIZES = {"mnist": (28, 28), "cifar10": (32, 32)}  # of the images these data sets hold
DEFAULT_VAL_SPLIT = 0.1
VQA_DATASETS = ("vqa", "synthetic_vqa")


@section
class Normalize(Section):
    """Per-channel mean and standard deviation of the images (values in 0..1)."""

    mean: list = spec_field(ListOf(Float(min=0, max=1), min_items=1), doc="mean per channel")
    std: list = spec_field(
        ListOf(Float(above=0), min_items=1), doc="standard deviation per channel"
    )


@section
class Transforms(Section):
    """Image transforms for training and for evaluation."""

    train: list = spec_field(TransformList, [], "training transforms (augmentation)")
    eval: list = spec_field(TransformList, [], "evaluation transforms (deterministic)")


@section
class SyntheticSize(Section):
    """Size of the built-in synthetic data set."""

    train_size: int = spec_field(Int(min=1, max=10_000_000), 5000, "training images")
    val_size: int = spec_field(Int(min=1, max=10_000_000), 1000, "validation images")


@section
class Data(Section):
    """Where the training data comes from and how images are prepared."""

    dataset: str = spec_field(
        Enum(
            *IMAGE_DATASETS,
            *VQA_DATASETS,
            aliases={"imagefolder": "image_folder", "cifar": "cifar10"},
        ),
        None,
        "synthetic, image_folder, cifar10, mnist, cub, vqa or synthetic_vqa",
    )
    root: str | None = spec_field(Str(max_length=4096, what="a path"), None, "default --data-root")
    classes: Any = spec_field(
        OneOf(
            Int(min=2, max=1_000_000),
            ListOf(Str(max_length=200), min_items=2),
            what="a count or a list of names",
        ),
        None,
        "number of classes, or their names",
    )
    answers: int = spec_field(
        Int(min=2, max=1_000_000), 1000, "VQA: the top-N answers become the classes"
    )
    min_word_count: int = spec_field(Int(min=1), 1, "VQA: rarer question words become <unk>")
    val_split: float = spec_field(
        Float(above=0, max=0.9),
        DEFAULT_VAL_SPLIT,
        "the fraction of the training split held out for validation (stratified by class, seeded) "
        "where the data has no validation split of its own",
    )
    normalize: Any = spec_field(
        OneOf(Enum(*NORMALIZE_PRESETS, "none"), Struct(Normalize), what="a preset or {mean, std}"),
        None,
        "imagenet, cifar10, mnist, half, none, or {mean: [...], std: [...]}",
    )
    transforms: Transforms = spec_field(Struct(Transforms), None, "train and eval transforms")
    bounding_boxes: bool = spec_field(Bool(), False, "CUB: crop every image to its bird's box")
    num_workers: int = spec_field(
        Int(min=0, max=256), 4, "data loader worker processes (image files, or random transforms)"
    )
    on_device: bool = spec_field(
        Bool(),
        False,
        "small in-memory data sets (synthetic, cifar10, mnist): --data-on-device holds the whole "
        "set on the GPU and augments it there",
    )
    synthetic: SyntheticSize = spec_field(
        Struct(SyntheticSize), None, "size of the synthetic data set"
    )


# --- training ---------------------------------------------------------------------------------

OPTIMIZER_OPTIONS = {
    "sgd": ("lr", "momentum", "nesterov", "weight_decay"),
    "adam": ("lr", "betas", "eps", "weight_decay"),
    "adamw": ("lr", "betas", "eps", "weight_decay"),
    "rmsprop": ("lr", "alpha", "eps", "momentum", "weight_decay"),
}


@section
class Optimizer(Section):
    """The optimizer and its settings."""

    name: str = spec_field(Enum(*OPTIMIZER_OPTIONS), None, "sgd, adam, adamw or rmsprop")
    lr: float = spec_field(Float(above=0, max=1000), None, "learning rate")
    momentum: float | None = spec_field(
        Float(min=0, max=1), None, "sgd (default 0.9) and rmsprop (default 0)"
    )
    nesterov: bool | None = spec_field(Bool(), None, "sgd: Nesterov momentum")
    weight_decay: float | None = spec_field(Float(min=0, max=1), None, "L2 penalty (default 0)")
    betas: list | None = spec_field(
        ListOf(Float(min=0, max=1), min_items=2, max_items=2), None, "adam/adamw: [beta1, beta2]"
    )
    alpha: float | None = spec_field(Float(min=0, max=1), None, "rmsprop: smoothing constant")
    eps: float | None = spec_field(Float(above=0, max=1), None, "adam/adamw/rmsprop: epsilon")


# of the schedules stepped by a count: the training features' keys (the warm-up's) and when
PER_STEP = (*(key for unit in FEATURES for key in unit.schedule_fields), "interval")
SCHEDULE_OPTIONS = {
    "constant": PER_STEP,
    "step": ("step_size", "gamma", *PER_STEP),
    "multistep": ("milestones", "gamma", *PER_STEP),
    "cosine": ("min_lr", *PER_STEP),
    "plateau": ("metric", "factor", "patience", "min_lr"),
}


@section
@unit_fields("schedule")  # and the training features' own (scaffold/features/)
class Schedule(Section):
    """How the learning rate changes over the epochs."""

    SHORTHAND = "name"
    name: str = spec_field(
        Enum(*SCHEDULE_OPTIONS), doc="constant, step, multistep, cosine or plateau"
    )
    step_size: int | None = spec_field(Int(min=1), None, "step: epochs between decays")
    milestones: list | None = spec_field(
        ListOf(Int(min=1), min_items=1), None, "multistep: decay epochs"
    )
    gamma: float | None = spec_field(
        Float(above=0, max=1), None, "step/multistep: decay factor (0.1)"
    )
    min_lr: float | None = spec_field(Float(min=0), None, "cosine/plateau: lowest learning rate")
    interval: str | None = spec_field(
        Enum("epoch", "step"),
        None,
        "epoch (default): the schedule moves once per epoch; step: after every optimizer step, "
        "its epochs counted in steps (timm's per-update schedule, nanoGPT's get_lr)",
    )
    metric: str | None = spec_field(Enum("val_acc", "val_loss"), None, "plateau: what to watch")
    factor: float | None = spec_field(Float(above=0, max=1), None, "plateau: decay factor (0.1)")
    patience: int | None = spec_field(Int(min=0), None, "plateau: epochs without improvement")


ScheduleType = Struct(Schedule, shorthand="name")


ModuleNames = OneOf(Enum("all"), ListOf(Name, min_items=1), what="all or a list of module names")


@section
@unit_fields("phase")  # and the training features' own (scaffold/features/)
class Phase(Section):
    """A training phase with its own epochs, optimizer, schedule and trainable modules."""

    name: str | None = spec_field(
        Str(pattern=IDENTIFIER, max_length=60, what="a name of ASCII letters, digits and _"),
        None,
        "phase name",
    )
    epochs: int = spec_field(Int(min=1, max=100_000), doc="epochs in this phase")
    trainable: Any = spec_field(ModuleNames, "all", "all, or the modules that train (e.g. [fc])")
    frozen: list = spec_field(ListOf(Name, min_items=1), [], "modules kept frozen")
    optimizer: Optimizer | None = spec_field(Struct(Optimizer), None, "overrides train.optimizer")
    schedule: Schedule | None = spec_field(ScheduleType, None, "overrides train.schedule")
    batch_size: int | None = spec_field(
        Int(min=1, max=1_000_000), None, "overrides train.batch_size"
    )


@section
@unit_fields("train")  # and the training features' own (scaffold/features/)
class Train(Section):
    """How to train: optimizer, schedule, epochs, batch size, seed, and optional phases."""

    seed: int = spec_field(Int(min=0, max=2**31 - 1), 0, "random seed")
    epochs: int | None = spec_field(Int(min=1, max=100_000), None, "epochs (without phases)")
    batch_size: int = spec_field(Int(min=1, max=1_000_000), 64, "images per step (per GPU)")
    optimizer: Optimizer = spec_field(Struct(Optimizer), None, "the optimizer")
    schedule: Schedule | None = spec_field(ScheduleType, None, "the learning-rate schedule")
    grad_clip: float | None = spec_field(Float(above=0), None, "clip the gradient norm to this")
    label_smoothing: float = spec_field(Float(min=0, max=1), 0.0, "cross-entropy label smoothing")
    phases: list | None = spec_field(
        ListOf(Struct(Phase), min_items=1), None, "training phases, in order"
    )


# --- the blueprint ----------------------------------------------------------------------------


@section
@unit_fields("blueprint")  # and the training features' own (scaffold/features/)
class Blueprint(Section):
    """A scaffold blueprint: what the model is, what data it learns from, and how it trains."""

    name: str = spec_field(
        Str(
            pattern=r"[A-Za-z][A-Za-z0-9_.-]*",
            max_length=80,
            what="a name of ASCII letters, digits, _ . and -, starting with a letter",
        ),
        doc="short name of the model, e.g. bcnn_vgg16",
    )
    description: str = spec_field(Str(max_length=500), "", "one line on what this is")
    input: Any = spec_field(
        InputType(), doc="the input: {channels, height, width}, or {image, question}"
    )
    blocks: dict = spec_field(
        BlocksType(),
        {},
        "blocks defined once and used like layers: NAME: {params: {p: default}, layers: [...]}, "
        "values written `$p` or `$in_channels * p`",
    )
    model: Model = spec_field(Struct(Model), doc="the network")
    data: Data = spec_field(Struct(Data), None, "data set and transforms")
    train: Train = spec_field(Struct(Train), None, "training recipe")

    source: str = field(default="<blueprint>")  # the file it was read from
    raw: dict | None = field(default=None)  # the plain data, as saved in a generated project

    @property
    def is_vqa(self) -> bool:
        return isinstance(self.input, TwoInputs)

    @property
    def image(self) -> ImageInput:
        return self.input.image if self.is_vqa else self.input

    @property
    def num_classes(self) -> int:
        if self.is_vqa:
            return self.data.answers
        classes = self.data.classes
        return len(classes) if isinstance(classes, list) else classes

    @property
    def class_names(self) -> list[str] | None:
        return self.data.classes if isinstance(self.data.classes, list) else None

    @property
    def in_memory(self) -> bool:
        """Whether the data set is small images held in memory as one tensor."""
        return not self.is_vqa and self.data.dataset in IN_MEMORY_DATASETS

    @property
    def loader_workers(self) -> bool:
        """Whether the data loader has worker processes (--workers, data.num_workers): they read,
        decode or augment samples. Images in memory that no random transform changes are batched
        from one tensor, transformed once; workers would only copy the batches."""
        return not self.in_memory or is_random(self.data.transforms.train)

    @property
    def source_size(self) -> tuple[int, int] | None:
        """The size of the data set's images before the transforms: MNIST's and CIFAR-10's own,
        the size the transforms take for the synthetic shapes; None for image files, which come
        in any size (the transforms then end in one)."""
        if not self.in_memory:
            return None
        if self.data.dataset in NATIVE_SIZES:
            return NATIVE_SIZES[self.data.dataset]
        size = (self.image.height, self.image.width)
        return input_size_for(self.data.transforms.eval, size) or size


def load_blueprint(path: str | Path) -> Blueprint:
    """Read and check a blueprint file (without shape checking), or raise BlueprintError."""
    path = Path(path)
    file = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise BlueprintError(Problem(None, "", f"{file}: no such file")) from None
    except IsADirectoryError:
        raise BlueprintError(
            Problem(None, "", f"{file}: is a directory, not a blueprint file")
        ) from None
    except OSError as error:
        raise BlueprintError(Problem(None, "", f"{file}: cannot read: {error.strerror}")) from None
    if len(raw) > MAX_BLUEPRINT_BYTES:
        raise BlueprintError(
            Problem(
                Location(file, 1, 1),
                "",
                f"the file is {len(raw)} bytes; a blueprint is at most 1 MB",
            )
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise BlueprintError(
            Problem(Location(file, line, 1), "", "the file is not UTF-8 text", "save it as UTF-8")
        ) from None
    return blueprint_from_node(parse_yaml(text, file), file)


def blueprint_from_data(data: dict, source: str = "<recorded blueprint>") -> Blueprint:
    """Check a blueprint given as plain data (e.g. replayed from .copier-answers.yml)."""
    return blueprint_from_node(from_plain(data, source), source)


def blueprint_from_node(node: Node, file: str) -> Blueprint:
    problems = ProblemCollector()
    original = node
    if not isinstance(node, MapNode):
        problems.add(
            node.location,
            "",
            "a blueprint is a mapping with name, description, input, model, data and train, "
            f"not {show(node)}",
        )
        problems.raise_if_any()
    defined = {}
    if "blocks" in node.entries:  # read first: the layers may use them, wherever they are written
        defined = BlocksType().read(node.entries["blocks"], "blocks", problems)
        rest = {k: v for k, v in node.entries.items() if k != "blocks"}
        node = MapNode(node.location, rest, node.key_locations)
    token = DEFINED.set(defined if isinstance(defined, dict) else {})
    try:
        blueprint = read_section(Blueprint, node, "", problems)
    finally:
        DEFINED.reset(token)
    problems.raise_if_any()
    blueprint.blocks = defined
    blueprint.source = file
    blueprint.raw = to_plain(original)
    _apply_defaults(blueprint)
    check_blueprint(blueprint, problems)
    problems.raise_if_any()
    return blueprint


def _apply_defaults(bp: Blueprint) -> None:
    if bp.data is None:
        bp.data = Data(location=bp.location, path="data")
    if bp.data.dataset is None:
        bp.data.dataset = "synthetic_vqa" if bp.is_vqa else "synthetic"
    if bp.data.classes is None and not bp.is_vqa:
        bp.data.classes = {"cifar10": 10, "mnist": 10, "cub": 200}.get(bp.data.dataset, 10)
    if bp.data.synthetic is None:
        bp.data.synthetic = SyntheticSize()
    if bp.data.transforms is None:
        bp.data.transforms = Transforms()
    if bp.train is None:
        bp.train = Train(location=bp.location, path="train")
    if bp.train.optimizer is None:
        bp.train.optimizer = Optimizer(name="adam", lr=1e-3)
    for unit in FEATURES:
        unit.resolve_blueprint(bp)


def check_blueprint(bp: Blueprint, problems: ProblemCollector) -> None:
    """Checks that need more than one field (shape checking comes later, in scaffold.plan)."""
    _check_model_form(bp, problems)
    _check_data(bp, problems)
    _check_train(bp, problems)


def _check_model_form(bp: Blueprint, problems: ProblemCollector) -> None:
    model = bp.model
    if model.class_name:
        problem = class_name_problem(model.class_name)
        if problem:
            problems.add(
                _loc(model, "class_name"), "model.class_name", problem, "choose another class name"
            )
    branches = {"image": model.image, "question": model.question, "head": model.head}
    if bp.is_vqa:
        if model.layers is not None:
            problems.add(
                _loc(model, "layers"),
                "model.layers",
                "a model with two inputs (image and question) has `image`, `question` and `head` "
                "instead of `layers`",
                "move the image layers under `model.image`, the question layers under "
                "`model.question`, and the attention and classifier under `model.head`",
            )
        for key, layers in branches.items():
            if layers is None:
                problems.add(
                    model.location,
                    f"model.{key}",
                    f"missing required key '{key}' for a model with image and question inputs",
                )
    else:
        given = [key for key, value in branches.items() if value is not None]
        for key in given:
            problems.add(
                _loc(model, key),
                f"model.{key}",
                f"`{key}` is for models with image and question inputs, but `input` is one image",
                "use `model.layers`, or give `input` an `image` and a `question`",
            )
        if model.layers is None and not given:
            problems.add(model.location, "model.layers", "missing required key 'layers' in model")


def _check_data(bp: Blueprint, problems: ProblemCollector) -> None:
    data = bp.data
    if bp.is_vqa and data.dataset in IMAGE_DATASETS:
        problems.add(
            _loc(data, "dataset"),
            "data.dataset",
            f"{data.dataset} has no questions; a model with a question input needs vqa or synthetic_vqa",
        )
    if not bp.is_vqa and data.dataset in VQA_DATASETS:
        problems.add(
            _loc(data, "dataset"),
            "data.dataset",
            f"{data.dataset} is a question-answering data set, but the model has no question input",
            "add `question` to `input` and split the model into image, question and head",
        )
    fixed = {"cifar10": 10, "mnist": 10, "cub": 200}
    if data.dataset in fixed and bp.num_classes != fixed[data.dataset] and not bp.is_vqa:
        problems.add(
            _loc(data, "classes"),
            "data.classes",
            f"{data.dataset} has {fixed[data.dataset]} classes, not {bp.num_classes}",
        )
    if isinstance(data.classes, list) and len(set(data.classes)) != len(data.classes):
        twice = sorted({name for name in data.classes if data.classes.count(name) > 1})
        problems.add(
            _loc(data, "classes"),
            "data.classes",
            f"class names must be different; {', '.join(map(repr, twice))} appears more than once",
            "rename or remove the repeated names",
        )
    channels = bp.image.channels
    if isinstance(data.normalize, Normalize):
        for key in ("mean", "std"):
            values = getattr(data.normalize, key)
            if len(values) != channels:
                problems.add(
                    location_in(data.normalize, key),
                    f"data.normalize.{key}",
                    f"has {_count(len(values), 'value')} but the input has "
                    f"{_count(channels, 'channel')}",
                    "give one value per channel",
                )
    elif data.normalize in NORMALIZE_PRESETS and data.normalize != "half":
        preset_channels = len(NORMALIZE_PRESETS[data.normalize][0])
        if preset_channels != channels:
            problems.add(
                _loc(data, "normalize"),
                "data.normalize",
                f"{data.normalize} statistics are for {_count(preset_channels, 'channel')}, "
                f"the input has {channels}",
                "give {mean: [...], std: [...]} with one value per channel, or `half`",
            )
    _check_transforms(bp, problems)
    if data.dataset in ("image_folder", "cub", "vqa"):
        for split in ("train", "eval"):
            steps = getattr(data.transforms, split)
            if steps and not any(_fixes_size(step) for step in steps):
                problems.add(
                    location_in(data.transforms, split),
                    f"data.transforms.{split}",
                    "images of different sizes cannot be stacked into a batch; no transform here "
                    "makes every image the same size",
                    "end with `center_crop` (evaluation) or `random_crop` (training)",
                )
            elif not steps:  # no transforms at all: the images keep their own sizes
                where = data.transforms if data.transforms.location else data
                problems.add(
                    location_in(where, split if where is data.transforms else "dataset"),
                    f"data.transforms.{split}",
                    f"{data.dataset} images come in different sizes, but no {split} transform makes "
                    "them the same size, so they cannot be stacked into a batch",
                    "e.g. `train: [random_resized_crop, random_horizontal_flip]` and "
                    "`eval: [resize: 256, center_crop]`",
                )


DEVICE_TRANSFORMS = ("pad", "random_crop", "random_horizontal_flip")  # what DeviceData does


def _check_transforms(bp: Blueprint, problems: ProblemCollector) -> None:
    data, transforms = bp.data, bp.data.transforms
    if is_random(transforms.eval):
        step = next(step for step in transforms.eval if step.RANDOM)
        problems.add(
            step.location or location_in(transforms, "eval"),
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
                    location_in(transforms, split) if transforms.location else data.location,
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
                    location_in(transforms, split) if transforms.location else data.location,
                    f"data.transforms.{split}",
                    f"the transforms end in {h}x{w} images, but the model takes {wanted}",
                    f"end with a crop or resize to {wanted}",
                )
    if data.on_device:
        if not bp.in_memory:
            problems.add(
                location_in(data, "on_device"),
                "data.on_device",
                f"{data.dataset} data are image files, too many to hold on the GPU; on_device is "
                "for synthetic, cifar10 and mnist",
            )
        for step in transforms.train:
            if step.KIND not in DEVICE_TRANSFORMS:
                problems.add(
                    step.location or location_in(transforms, "train"),
                    "data.transforms.train",
                    f"on the GPU (data.on_device) the training transforms can be "
                    f"{', '.join(DEVICE_TRANSFORMS)}, not {step.KIND}",
                    "remove on_device, or the transform",
                )
    if "num_workers" in data.key_locations and not bp.loader_workers:
        problems.add(
            location_in(data, "num_workers"),
            "data.num_workers",
            f"{data.dataset} images without random transforms are batched from one tensor in "
            "memory, transformed once: the loader has no worker processes",
            "remove num_workers",
        )
    _check_augmentation(bp, problems)


COLOUR_AUGMENTATIONS = (RandAugment, TrivialAugment, AutoAugment)


def _check_augmentation(bp: Blueprint, problems: ProblemCollector) -> None:
    """RandAugment, TrivialAugment, AutoAugment and random erasing: where each can act (batch
    mixing's: scaffold/features/)."""
    steps = bp.data.transforms.train
    for position, step in enumerate(steps):
        if isinstance(step, RandomErasing) and position != len(steps) - 1:
            problems.add(
                step.location or location_in(bp.data.transforms, "train"),
                "data.transforms.train",
                "random_erasing erases part of the finished image, so it comes last (torchvision's "
                "references erase after every other transform)",
                "move `random_erasing` to the end of data.transforms.train",
            )
        if isinstance(step, COLOUR_AUGMENTATIONS) and bp.image.channels not in (1, 3):
            problems.add(
                step.location or location_in(bp.data.transforms, "train"),
                "data.transforms.train",
                f"{step.KIND}'s colour operations work on grey or RGB images, not on "
                f"{bp.image.channels} channels",
                f"remove {step.KIND}, or give the input 1 or 3 channels",
            )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _fixes_size(step) -> bool:
    return getattr(step, "fixes_size", step.FIXES_SIZE)


def _check_train(bp: Blueprint, problems: ProblemCollector) -> None:
    train = bp.train
    if train.phases is None and train.epochs is None:
        problems.add(
            train.location,
            "train.epochs",
            "missing required key 'epochs' in train",
            "e.g. `epochs: 10`",
        )
    if train.phases is not None and train.epochs is not None:
        problems.add(
            _loc(train, "epochs"),
            "train.epochs",
            "give either `epochs` or `phases` (each phase has its own epochs), not both",
        )
    _check_optimizer(train.optimizer, "train.optimizer", problems, require=True)
    if train.schedule is not None:
        _check_schedule(train.schedule, "train.schedule", problems)
    for i, phase in enumerate(train.phases or []):
        path = f"train.phases[{i}]"
        if phase.optimizer is not None:
            if phase.optimizer.name is None:
                phase.optimizer.name = train.optimizer.name
            _check_optimizer(phase.optimizer, f"{path}.optimizer", problems, require=False)
        if phase.schedule is not None:
            _check_schedule(phase.schedule, f"{path}.schedule", problems)
        if phase.trainable != "all" and phase.frozen:
            problems.add(
                _loc(phase, "frozen"),
                f"{path}.frozen",
                "give either `trainable: [...]` or `frozen: [...]`, not both",
            )
    names = [p.name for p in train.phases or [] if p.name]
    for name in {n for n in names if names.count(n) > 1}:
        problems.add(train.location, "train.phases", f"two phases are named '{name}'")
    _check_training_features(bp, problems)


def _check_training_features(bp: Blueprint, problems: ProblemCollector) -> None:
    """Each training feature's own checks (scaffold/features/), then per-step schedules."""
    train = bp.train
    for unit in FEATURES:
        unit.check(bp, problems)
    check_steps(bp, problems)
    schedules = [("train.schedule", train.schedule)] + [
        (f"train.phases[{i}].schedule", p.schedule) for i, p in enumerate(train.phases or [])
    ]
    schedules = [(path, schedule) for path, schedule in schedules if schedule is not None]
    stepped = [path for path, schedule in schedules if schedule_interval(bp, schedule) == "step"]
    for path, schedule in schedules if stepped else ():
        if schedule.name == "plateau":
            problems.add(
                schedule.location,
                f"{path}.name",
                "the plateau schedule waits for the validation metric, once an epoch; "
                f"{stepped[0]} moves every optimizer step",
                "use a cosine, step, multistep or constant schedule with `interval: step`",
            )
        elif schedule_interval(bp, schedule) != "step":
            problems.add(
                location_in(schedule, "interval"),
                f"{path}.interval",
                f"{stepped[0]} moves every optimizer step; the schedules of one blueprint move at "
                "one interval",
                "write `interval: step` here too",
            )


def schedule_interval(bp: Blueprint, schedule: Schedule) -> str:
    """When `schedule` moves: its own interval, else train.schedule's (phases inherit it), else
    once an epoch. The plateau schedule moves once an epoch."""
    if schedule.name == "plateau":
        return "epoch"
    base = bp.train.schedule
    return schedule.interval or (base.interval if base is not None else None) or "epoch"


def _check_optimizer(opt: Optimizer, path: str, problems: ProblemCollector, require: bool) -> None:
    if opt.name is None:
        problems.add(
            opt.location,
            f"{path}.name",
            "missing required key 'name'",
            "sgd, adam, adamw or rmsprop",
        )
        return
    if require and opt.lr is None:
        problems.add(opt.location, f"{path}.lr", "missing required key 'lr'", "e.g. `lr: 0.01`")
    allowed = OPTIMIZER_OPTIONS[opt.name]
    for key in ("momentum", "nesterov", "weight_decay", "betas", "alpha", "eps"):
        if getattr(opt, key) is not None and key not in allowed:
            problems.add(
                location_in(opt, key),
                f"{path}.{key}",
                f"{key} is not a setting of {opt.name}",
                f"{opt.name} takes " + ", ".join(allowed),
            )
    if opt.nesterov and not opt.momentum and opt.name == "sgd":
        problems.add(
            location_in(opt, "nesterov"), f"{path}.nesterov", "Nesterov momentum needs momentum > 0"
        )


def _check_schedule(schedule: Schedule, path: str, problems: ProblemCollector) -> None:
    allowed = SCHEDULE_OPTIONS[schedule.name]
    for key in (
        "step_size",
        "milestones",
        "gamma",
        "min_lr",
        *PER_STEP,
        "metric",
        "factor",
        "patience",
    ):
        if getattr(schedule, key) is not None and key not in allowed:
            problems.add(
                location_in(schedule, key),
                f"{path}.{key}",
                f"{key} is not a setting of the {schedule.name} schedule",
                f"{schedule.name} takes " + ", ".join(allowed),
            )
    if schedule.name == "step" and schedule.step_size is None:
        problems.add(schedule.location, f"{path}.step_size", "the step schedule needs `step_size`")
    if schedule.name == "multistep" and schedule.milestones is None:
        problems.add(
            schedule.location, f"{path}.milestones", "the multistep schedule needs `milestones`"
        )
    if schedule.milestones and sorted(schedule.milestones) != schedule.milestones:
        problems.add(
            location_in(schedule, "milestones"), f"{path}.milestones", "milestones must increase"
        )


def _loc(section: Section, key: str) -> Location | None:
    return section.key_locations.get(key, section.location)


location_in = _loc
