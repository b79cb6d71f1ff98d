"""The blueprint: what a user writes, read into typed sections with every problem located.

`load_blueprint(path)` reads and checks a file; `blueprint_from_data(dict)` does the same for
a blueprint replayed from a generated project's `.copier-answers.yml`. Three steps:

1. parse: `scaffold.source` reads the YAML into located nodes;
2. resolve: `scaffold.spec.read_section` builds the sections below from them, each complete
   when it is built: shorthand is resolved and defaults are filled while reading (a field's
   `resolve`, a section's `resolve_values`, a default's factory), so every field holds its
   declared type and nothing sets a field afterwards;
3. check: `scaffold.checks` looks at what needs more than one field, grouped by domain.

Shape checking of the model happens afterwards, in `scaffold.plan`.
"""

from __future__ import annotations

from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .blocks.base import DEFINED
from .checks import check_blueprint
from .errors import BlueprintError, Location, Problem, ProblemCollector
from .features import FEATURES, unit_fields
from .layers import IDENTIFIER, BlocksType, Defined, LayerList, Name
from .presets import NORMALIZE_PRESETS
from .source import MapNode, Node, from_plain, parse_yaml, to_plain
from .spec import (
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
    replaced,
    section,
    show,
    spec_field,
)
from .transforms import TransformList, input_size_for, is_random

if TYPE_CHECKING:
    from .blocks.base import Layer
    from .transforms import Transform

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
    question: QuestionInput = spec_field(
        Struct(QuestionInput), doc="the question input", factory=QuestionInput
    )


class InputType(FieldType):
    """`input` is either one image, or `image` and `question`: told apart by their keys."""

    def read(self, node: Node, path: str, problems: ProblemCollector) -> Any:
        if isinstance(node, MapNode) and ({"image", "question"} & set(node.entries)):
            return read_section(TwoInputs, node, path, problems)
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
    layers: list[Layer] | None = spec_field(
        LayerList, None, "the layers, in order, for one image input"
    )
    image: list[Layer] | None = spec_field(LayerList, None, "image branch (two-input models)")
    question: list[Layer] | None = spec_field(LayerList, None, "question branch (two-input models)")
    head: list[Layer] | None = spec_field(
        LayerList, None, "where the branches meet (two-input models)"
    )


# --- data -------------------------------------------------------------------------------------

IMAGE_DATASETS = ("synthetic", "image_folder", "cifar10", "mnist", "cub")
IN_MEMORY_DATASETS = ("synthetic", "cifar10", "mnist")  # small images, held as one tensor
NATIVE_SIZES = {"mnist": (28, 28), "cifar10": (32, 32)}  # of the images these data sets hold
FIXED_CLASSES = {"cifar10": 10, "mnist": 10, "cub": 200}  # of the data sets whose classes are set
DEFAULT_CLASSES = 10  # of the others, unless the blueprint says
DEFAULT_VAL_SPLIT = 0.1
VQA_DATASETS = ("vqa", "synthetic_vqa")


@section
class Normalize(Section):
    """Per-channel mean and standard deviation of the images (values in 0..1)."""

    mean: list[float] = spec_field(ListOf(Float(min=0, max=1), min_items=1), doc="mean per channel")
    std: list[float] = spec_field(
        ListOf(Float(above=0), min_items=1), doc="standard deviation per channel"
    )


@section
class Transforms(Section):
    """Image transforms for training and for evaluation."""

    train: list[Transform] = spec_field(TransformList, [], "training transforms (augmentation)")
    eval: list[Transform] = spec_field(TransformList, [], "evaluation transforms (deterministic)")


@section
class SyntheticSize(Section):
    """Size of the built-in synthetic data set."""

    train_size: int = spec_field(Int(min=1, max=10_000_000), 5000, "training images")
    val_size: int = spec_field(Int(min=1, max=10_000_000), 1000, "validation images")


@section
class Data(Section):
    """Where the training data comes from and how images are prepared."""

    # the blueprint's resolve_values gives it (synthetic, or synthetic_vqa for two inputs)
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
    # the blueprint's resolve_values gives it (the data set's own, or 10); None: VQA's answers
    classes: int | list[str] | None = spec_field(
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
    normalize: str | Normalize | None = spec_field(
        OneOf(Enum(*NORMALIZE_PRESETS, "none"), Struct(Normalize), what="a preset or {mean, std}"),
        None,
        "imagenet, cifar10, mnist, half, none, or {mean: [...], std: [...]}",
    )
    transforms: Transforms = spec_field(
        Struct(Transforms), doc="train and eval transforms", factory=Transforms
    )
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
        Struct(SyntheticSize), doc="size of the synthetic data set", factory=SyntheticSize
    )

    @property
    def has_questions(self) -> bool:
        """Whether the data set is one of questions about images (visual question answering)."""
        return self.dataset in VQA_DATASETS

    @property
    def fixed_classes(self) -> int | None:
        """The number of classes the data set has, where it is fixed (CIFAR-10, MNIST, CUB)."""
        return FIXED_CLASSES.get(self.dataset)


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
    betas: list[float] | None = spec_field(
        ListOf(Float(min=0, max=1), min_items=2, max_items=2), None, "adam/adamw: [beta1, beta2]"
    )
    alpha: float | None = spec_field(Float(min=0, max=1), None, "rmsprop: smoothing constant")
    eps: float | None = spec_field(Float(above=0, max=1), None, "adam/adamw/rmsprop: epsilon")

    @property
    def options(self) -> tuple[str, ...]:
        """The settings the optimizer takes."""
        return OPTIMIZER_OPTIONS[self.name]


def default_optimizer() -> Optimizer:
    """The optimizer of a blueprint that names none."""
    return Optimizer(name="adam", lr=1e-3)


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
    milestones: list[int] | None = spec_field(
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

    @property
    def options(self) -> tuple[str, ...]:
        """The settings the schedule takes."""
        return SCHEDULE_OPTIONS[self.name]


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
    trainable: str | list[str] = spec_field(
        ModuleNames, "all", "all, or the modules that train (e.g. [fc])"
    )
    frozen: list[str] = spec_field(ListOf(Name, min_items=1), [], "modules kept frozen")
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
    optimizer: Optimizer = spec_field(
        Struct(Optimizer), doc="the optimizer", factory=default_optimizer
    )
    schedule: Schedule | None = spec_field(ScheduleType, None, "the learning-rate schedule")
    grad_clip: float | None = spec_field(Float(above=0), None, "clip the gradient norm to this")
    label_smoothing: float = spec_field(Float(min=0, max=1), 0.0, "cross-entropy label smoothing")
    phases: list[Phase] | None = spec_field(
        ListOf(Struct(Phase), min_items=1), None, "training phases, in order"
    )

    @classmethod
    def resolve_values(cls, values: dict, location: Location | None, path: str) -> dict:
        """A phase's optimizer that names none is train's, with the phase's settings."""
        name = values.setdefault("optimizer", default_optimizer()).name
        phases = values.get("phases")
        if phases and any(p.optimizer is not None and p.optimizer.name is None for p in phases):
            values["phases"] = [
                (
                    replaced(phase, optimizer=replaced(phase.optimizer, name=name))
                    if phase.optimizer is not None and phase.optimizer.name is None
                    else phase
                )
                for phase in phases
            ]
        return values

    def schedules(self) -> list[tuple[str, Schedule]]:
        """Every schedule the blueprint writes (train's, the phases'), with its path."""
        given = [("train.schedule", self.schedule)] + [
            (f"train.phases[{i}].schedule", phase.schedule)
            for i, phase in enumerate(self.phases or [])
        ]
        return [(path, schedule) for path, schedule in given if schedule is not None]


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
    input: ImageInput | TwoInputs = spec_field(
        InputType(), doc="the input: {channels, height, width}, or {image, question}"
    )
    blocks: Defined = spec_field(
        BlocksType(),
        {},
        "blocks defined once and used like layers: NAME: {params: {p: default}, layers: [...]}, "
        "values written `$p` or `$in_channels * p`",
    )
    model: Model = spec_field(Struct(Model), doc="the network")
    data: Data = spec_field(Struct(Data), None, "data set and transforms")  # resolve_values
    train: Train = spec_field(Struct(Train), None, "training recipe")  # resolve_values

    source: str = field(default="<blueprint>")  # the file it was read from
    raw: dict | None = field(default=None)  # the plain data, as saved in a generated project

    @classmethod
    def resolve_values(cls, values: dict, location: Location | None, path: str) -> dict:
        """The data and the recipe complete: a blueprint without them has the defaults', and
        the data set and its classes follow from the input when the data leave them out."""
        vqa = isinstance(values["input"], TwoInputs)
        data = values.get("data") or Data(location=location, path="data")
        dataset = data.dataset or ("synthetic_vqa" if vqa else "synthetic")
        classes = data.classes
        if classes is None and not vqa:
            classes = FIXED_CLASSES.get(dataset, DEFAULT_CLASSES)
        if dataset != data.dataset or classes != data.classes:
            data = replaced(data, dataset=dataset, classes=classes)
        values["data"] = data
        if values.get("train") is None:
            values["train"] = Train(location=location, path="train")
        return values

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

    def schedule_interval(self, schedule: Schedule) -> str:
        """When `schedule` moves (see `schedule_interval`)."""
        return schedule_interval(self, schedule)


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
    """Read a parsed blueprint into its resolved sections, then check it (scaffold.checks)."""
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
    defined = Defined()
    if "blocks" in node.entries:  # read first: the layers may use them, wherever they are written
        defined = BlocksType().read(node.entries["blocks"], "blocks", problems)
        rest = {k: v for k, v in node.entries.items() if k != "blocks"}
        node = MapNode(node.location, rest, node.key_locations)
    token = DEFINED.set(defined if isinstance(defined, dict) else {})
    try:
        given = {"blocks": defined, "source": file, "raw": to_plain(original)}
        blueprint = read_section(Blueprint, node, "", problems, given=given)
    finally:
        DEFINED.reset(token)
    problems.raise_if_any()
    check_blueprint(blueprint, problems)
    problems.raise_if_any()
    return blueprint


def schedule_interval(bp: Blueprint, schedule: Schedule) -> str:
    """When `schedule` moves: its own interval, else train.schedule's (phases inherit it), else
    once an epoch. The plateau schedule moves once an epoch."""
    if schedule.name == "plateau":
        return "epoch"
    base = bp.train.schedule
    return schedule.interval or (base.interval if base is not None else None) or "epoch"
