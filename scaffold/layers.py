"""The layer vocabulary of blueprints: what a user may write in `model.layers` and friends.

Each layer kind is a dataclass; its fields declare their types (see `scaffold.spec`).
A layer is written either as a bare word (`- relu`), as a word with its main argument
(`- linear: 120`, `- maxpool: 2`), or as a word with a mapping of arguments
(`- conv: {out: 64, kernel: 3, padding: 1}`). What the layers mean (shapes, parameters,
generated code) lives in `scaffold.plan`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from .errors import ProblemCollector
from .presets import VGG_CFGS
from .source import Node
from .spec import (
    Bool,
    Enum,
    FieldType,
    Float,
    Int,
    ListOf,
    OneOf,
    Pair,
    Section,
    Str,
    read_tagged,
    spec_field,
)

IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]*"
Name = Str(
    pattern=IDENTIFIER,
    max_length=60,
    what="a Python identifier of ASCII letters, digits and _, not starting with a digit",
)
Size = Int(min=1, max=1_000_000)
Channels = Int(min=1, max=65_536)


@dataclass
class Layer(Section):
    KIND: ClassVar[str] = ""
    SHORTHAND: ClassVar[str | None] = None
    DOC: ClassVar[str] = ""
    name: str | None = spec_field(Name, None, "module name in the generated model")

    @property
    def label(self) -> str:
        return self.KIND


LAYERS: dict[str, type[Layer]] = {}
ALIASES: dict[str, str] = {}


def layer(kind: str, *aliases: str):
    def register(cls: type[Layer]) -> type[Layer]:
        cls.KIND = kind
        LAYERS[kind] = cls
        for alias in aliases:
            ALIASES[alias] = kind
        return cls

    return register


# --- image layers -----------------------------------------------------------------------------


@layer("conv", "conv2d", "convolution")
@dataclass
class Conv(Layer):
    """2-D convolution; input channels are inferred."""

    SHORTHAND = "out"
    out: int = spec_field(Channels, doc="output channels")
    kernel: tuple[int, int] = spec_field(Pair(Size), (3, 3), "kernel size")
    stride: tuple[int, int] = spec_field(Pair(Size), (1, 1), "stride")
    padding: Any = spec_field(
        OneOf(
            Pair(Int(min=0, max=10_000)), Enum("same"), what="a number, [height, width] or `same`"
        ),
        (0, 0),
        "zero padding, or `same`",
    )
    dilation: tuple[int, int] = spec_field(Pair(Size), (1, 1), "dilation")
    groups: int = spec_field(Int(min=1), 1, "groups (both channel counts must divide by it)")
    bias: bool = spec_field(Bool(), True, "learn an additive bias (usually off before batch norm)")


@layer("batch_norm", "bn", "batchnorm", "batch_norm2d", "batchnorm2d")
@dataclass
class BatchNorm(Layer):
    """Batch normalisation over the channels (2-D maps) or features (vectors)."""

    eps: float = spec_field(Float(above=0), 1e-5, "added to the variance")
    momentum: float = spec_field(Float(min=0, max=1), 0.1, "running statistics momentum")


ACTIVATIONS = ("relu", "relu6", "leaky_relu", "elu", "gelu", "silu", "tanh", "sigmoid")


@dataclass
class Activation(Layer):
    """An element-wise non-linearity."""


for _kind in ACTIVATIONS:
    if _kind == "leaky_relu":
        continue
    layer(_kind)(
        type(_kind.title().replace("_", ""), (Activation,), {"__doc__": f"{_kind} activation"})
    )


@layer("leaky_relu")
@dataclass
class LeakyReLU(Activation):
    """Leaky ReLU."""

    SHORTHAND = "negative_slope"
    negative_slope: float = spec_field(Float(min=0), 0.01, "slope for negative inputs")


ALIASES["swish"] = "silu"


@dataclass
class Pool(Layer):
    SHORTHAND = "kernel"
    kernel: tuple[int, int] = spec_field(Pair(Size), (2, 2), "window size")
    stride: tuple[int, int] | None = spec_field(
        Pair(Size), None, "step between windows (default: the kernel size)"
    )
    padding: tuple[int, int] = spec_field(Pair(Int(min=0)), (0, 0), "zero padding")
    ceil_mode: bool = spec_field(Bool(), False, "round the output size up")


@layer("maxpool", "max_pool", "maxpool2d", "M")
@dataclass
class MaxPool(Pool):
    """Max pooling."""


@layer("avgpool", "avg_pool", "avgpool2d")
@dataclass
class AvgPool(Pool):
    """Average pooling."""


@layer("adaptive_avgpool", "adaptive_avg_pool", "adaptiveavgpool2d")
@dataclass
class AdaptiveAvgPool(Layer):
    """Average pooling to a fixed output size, whatever the input size."""

    SHORTHAND = "size"
    size: tuple[int, int] = spec_field(Pair(Size), (1, 1), "output height and width")


@layer("global_avgpool", "global_avg_pool", "gap")
@dataclass
class GlobalAvgPool(Layer):
    """Average over all positions: C x H x W becomes C x 1 x 1 (flatten it before a linear layer)."""


@layer("dropout")
@dataclass
class Dropout(Layer):
    """Dropout."""

    SHORTHAND = "p"
    p: float = spec_field(Float(min=0, max=1), 0.5, "probability of zeroing an element")


@layer("flatten")
@dataclass
class Flatten(Layer):
    """Flatten everything but the batch dimension."""


@layer("linear", "fc", "dense")
@dataclass
class Linear(Layer):
    """Fully connected layer; the input size is inferred."""

    SHORTHAND = "out"
    out: Any = spec_field(
        OneOf(Size, Enum("classes"), what="an integer ≥ 1 or `classes`"),
        doc="output features, or `classes` for the number of classes of the data",
    )
    bias: bool = spec_field(Bool(), True, "learn an additive bias")


# --- composite image layers -------------------------------------------------------------------

VggEntry = OneOf(Channels, Enum("M"), what="a channel count or M")


@layer("vgg")
@dataclass
class Vgg(Layer):
    """VGG convolutional features from a `cfg` list as in the paper: numbers are 3x3 convs, M is a 2x2 max pool."""

    SHORTHAND = "cfg"
    cfg: Any = spec_field(
        OneOf(Enum(*VGG_CFGS), ListOf(VggEntry, min_items=1), what="VGG11/13/16/19 or a list"),
        doc="a preset name (VGG11, VGG13, VGG16, VGG19) or a list like [64, 64, M, 128, ...]",
    )
    batch_norm: bool = spec_field(Bool(), False, "batch norm after every convolution")
    last_pool: bool = spec_field(
        Bool(), True, "keep the final max pool (B-CNN removes pool5 and pools relu5_3)"
    )
    width: float = spec_field(
        Float(above=0, max=16), 1.0, "channel multiplier (e.g. 0.25 for a quick CPU test)"
    )
    pretrained: str | None = spec_field(
        Str(pattern=r"torchvision/\w+", what="torchvision/NAME"),
        None,
        "torchvision ImageNet weights for these features, e.g. torchvision/vgg16",
    )

    @property
    def label(self) -> str:
        return f"vgg {self.cfg}" if isinstance(self.cfg, str) else "vgg"


@layer("stem")
@dataclass
class Stem(Layer):
    """ResNet stem: `cifar` (conv3x3 + BN + ReLU) or `imagenet` (conv7x7 stride 2 + BN + ReLU + maxpool)."""

    SHORTHAND = "style"
    style: str = spec_field(Enum("cifar", "imagenet"), doc="cifar (32 px) or imagenet (224 px)")
    channels: int = spec_field(Channels, 64, "output channels")


@layer("stage", "residual_stage")
@dataclass
class Stage(Layer):
    """A residual stage: `blocks` residual blocks, the first with `stride` and, if needed, a shortcut projection."""

    block: str = spec_field(
        Enum("basic", "bottleneck"), doc="basic (3x3-3x3) or bottleneck (1x1-3x3-1x1, x4)"
    )
    blocks: int = spec_field(Int(min=1, max=1000), doc="number of residual blocks")
    channels: int = spec_field(
        Channels, doc="output channels of the stage (bottleneck width is a quarter)"
    )
    stride: int = spec_field(Int(min=1, max=8), 1, "stride of the first block")
    shortcut: str = spec_field(
        Enum("conv1x1", "conv3x3", "none"),
        "conv1x1",
        "projection when the shape changes: conv1x1 + BN (torchvision), conv3x3 + BN (tutorials), none",
    )
    se: int | None = spec_field(
        Int(min=1, max=1024), None, "squeeze-excitation reduction ratio r (e.g. 16); omit for none"
    )


class LayerType(FieldType):
    """One entry of a layer list."""

    def read(self, node: Node, path: str, problems: ProblemCollector) -> Any:
        return read_layer(node, path, problems)

    def schema(self) -> dict[str, Any]:
        return {"$ref": "#/$defs/layer"}

    def describe(self) -> str:
        return "a layer"


LayerList = ListOf(LayerType(), min_items=1)


@layer("sequential", "group")
@dataclass
class Sequential(Layer):
    """Simple layers grouped into one nn.Sequential attribute (e.g. torchvision's `classifier`)."""

    layers: list = spec_field(LayerList, doc="the layers inside the group")


@layer("bilinear_pool", "bilinear")
@dataclass
class BilinearPool(Layer):
    """Bilinear pooling (Lin et al. 2015): mean outer product of the features over positions, signed sqrt, L2 norm."""

    eps: float = spec_field(Float(above=0), 1e-10, "added under the square root")
    sqrt: str = spec_field(
        Enum("signed", "plain"),
        "signed",
        "signed: sign(x)*sqrt(|x|+eps) (the paper); plain: sqrt(x+eps) (HaoMood's code)",
    )


# --- question and attention layers ------------------------------------------------------------


@layer("project_regions", "regions")
@dataclass
class ProjectRegions(Layer):
    """Treat every position of a C x H x W map as a region and project it: tanh(W f + b), giving H*W x out."""

    SHORTHAND = "out"
    out: int = spec_field(
        Channels, doc="size d of each region vector (must equal the question vector)"
    )
    activation: str = spec_field(
        Enum("tanh", "relu", "none"), "tanh", "non-linearity after the projection"
    )


@layer("embedding")
@dataclass
class Embedding(Layer):
    """Word embedding of the question tokens; the vocabulary size comes from the data."""

    SHORTHAND = "dim"
    dim: int = spec_field(Channels, doc="embedding size")


@layer("lstm")
@dataclass
class LSTM(Layer):
    """LSTM over the embedded question; its output is the hidden state after the last real token."""

    SHORTHAND = "hidden"
    hidden: int = spec_field(Channels, doc="hidden size (the question vector size)")
    layers: int = spec_field(Int(min=1, max=8), 1, "stacked LSTM layers")
    dropout: float = spec_field(Float(min=0, max=1), 0.0, "dropout between stacked layers")


@layer("text_cnn", "question_cnn")
@dataclass
class TextCNN(Layer):
    """Unigram/bigram/trigram convolutions over the embedded words, tanh, max over time, concatenated."""

    kernels: list = spec_field(ListOf(Int(min=1, max=10), min_items=1), [1, 2, 3], "n-gram sizes")
    channels: Any = spec_field(
        OneOf(Channels, ListOf(Channels, min_items=1)),
        [256, 512, 512],
        "filters per n-gram size (one number for all, or one per kernel)",
    )


@layer("stacked_attention", "attention")
@dataclass
class StackedAttention(Layer):
    """Stacked attention (Yang et al. 2016): K hops of question-guided attention over the image regions."""

    SHORTHAND = "hops"
    hops: int = spec_field(Int(min=1, max=8), 2, "number of attention layers K")
    attention: int = spec_field(Channels, 512, "size k of the attention hidden layer")
    dropout: float = spec_field(Float(min=0, max=1), 0.5, "dropout on the attention hidden layer")
    form: str = spec_field(
        Enum("paper", "official"),
        "paper",
        "paper: tanh(W_I v + W_Q u + b); official code: tanh(W_I v) + tanh(W_Q u + b)",
    )


# --- reading ----------------------------------------------------------------------------------


def read_layer(node: Node, path: str, problems: ProblemCollector) -> Any:
    return read_tagged(
        node, path, problems, LAYERS, ALIASES, "layer", "`relu` or `conv: {out: 64}`"
    )
