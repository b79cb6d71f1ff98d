"""`stage`: a ResNet stage of basic or bottleneck blocks (He et al. 2016), with torchvision's
names and layout (layer1.0.conv1, ...), ResNeXt's groups and Wide ResNet's width, and optional
squeeze-excitation in every block."""

from __future__ import annotations

from .base import (
    Channels,
    Context,
    Enum,
    Fragment,
    Int,
    Layer,
    Ref,
    Shape,
    conv_out,
    image,
    spec_field,
    unit,
)
from .sequential import wrap_entries
from .squeeze_excitation import SQUEEZE_EXCITATION, se_row

CONV_BN = Fragment(
    "conv_bn",
    '''
def conv_bn(
    in_channels: int, out_channels: int, kernel_size: int, stride: int = 1
) -> nn.Sequential:
    """A shortcut projection: convolution and batch norm (downsample.0 and .1, as torchvision's)."""
    return nn.Sequential(
        nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size=kernel_size,
            stride=stride,
            padding=kernel_size // 2,
            bias=False,
        ),
        nn.BatchNorm2d(out_channels),
    )
''',
    uses=("nn",),
)


def _se_argument(flags) -> str:
    return "        se_reduction: int | None = None,\n" if "se" in flags else ""


def _se_module(flags) -> str:
    if "se" not in flags:
        return ""
    return (
        "        self.se = (\n"
        "            SqueezeExcitation(out_channels, se_reduction) if se_reduction else None\n"
        "        )\n"
    )


def _se_call(flags) -> str:
    if "se" not in flags:
        return ""
    return (
        "        if self.se is not None:\n"
        "            out = self.se(out)  # on the residual branch, before the addition\n"
    )


def _basic_block(flags) -> str:
    return f'''
class BasicBlock(nn.Module):
    """Two 3x3 convolutions and a shortcut (He et al. 2016), with torchvision's names and layout."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
{_se_argument(flags)}    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size=3,
            stride=stride,
            padding=1,
            bias=False,
        )
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(
            out_channels, out_channels, kernel_size=3, padding=1, bias=False
        )
        self.bn2 = nn.BatchNorm2d(out_channels)
{_se_module(flags)}        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
{_se_call(flags)}        out += identity
        return self.relu(out)
'''


def _bottleneck(flags) -> str:
    grouped = "groups" in flags
    doc = (
        '"""1x1 reduce, 3x3, 1x1 expand (x4) and a shortcut; the stride sits on the 3x3 as in\n'
        '    torchvision (v1.5)."""'
    )
    if grouped:
        doc = (
            '"""1x1 reduce, 3x3, 1x1 expand (x4) and a shortcut; the stride sits on the 3x3 as in\n'
            "    torchvision (v1.5).\n\n"
            "    The 3x3 convolution has `groups` groups of `width_per_group` channels for every 64 "
            "of the\n    block's planes (out_channels / 4): ResNeXt's cardinality and Wide ResNet's "
            'width,\n    as torchvision.\n    """'
        )
    arguments = "        groups: int = 1,\n        width_per_group: int = 64,\n" if grouped else ""
    width = (
        "        width = int(out_channels // self.expansion * (width_per_group / 64.0)) * groups\n"
        if grouped
        else "        width = out_channels // self.expansion\n"
    )
    conv2 = (
        "        self.conv2 = nn.Conv2d(\n"
        "            width,\n"
        "            width,\n"
        "            kernel_size=3,\n"
        "            stride=stride,\n"
        "            padding=1,\n"
        "            groups=groups,\n"
        "            bias=False,\n"
        "        )\n"
        if grouped
        else "        self.conv2 = nn.Conv2d(\n"
        "            width, width, kernel_size=3, stride=stride, padding=1, bias=False\n"
        "        )\n"
    )
    return f"""
class Bottleneck(nn.Module):
    {doc}

    expansion = 4

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
{arguments}{_se_argument(flags)}    ) -> None:
        super().__init__()
{width}        self.conv1 = nn.Conv2d(in_channels, width, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
{conv2}        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_channels, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
{_se_module(flags)}        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
{_se_call(flags)}        out += identity
        return self.relu(out)
"""


BASIC_BLOCK = Fragment("BasicBlock", _basic_block)
BOTTLENECK = Fragment("Bottleneck", _bottleneck)


@unit("stage", "residual_stage")
class Stage(Layer):
    """A residual stage: `blocks` residual blocks, the first with `stride` and, if needed, a shortcut projection."""

    NAME = "layer"
    FRAGMENTS = (CONV_BN, SQUEEZE_EXCITATION, BASIC_BLOCK, BOTTLENECK)
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
    groups: int = spec_field(
        Int(min=1, max=1024),
        1,
        "bottleneck: groups of the 3x3 convolution (ResNeXt's cardinality, e.g. 32)",
    )
    width: int = spec_field(
        Int(min=1, max=65_536),
        64,
        "bottleneck: channels per group of the 3x3 convolution for every 64 of the block's "
        "planes (channels / 4), torchvision's width_per_group: 4 with groups 32 is ResNeXt 32x4d, "
        "128 is Wide ResNet-50-2",
    )

    def plan(self, x: Shape, ctx: Context) -> Shape:
        return wrap_entries(self, x, ctx, f"stage x{self.blocks}")

    def entries(self, x: Shape, ctx: Context, prefix: str, start: int, depth: int):
        self.need_image(x)
        bottleneck = self.block == "bottleneck"
        out_c = self.channels
        if bottleneck and out_c % 4:
            raise self.error(
                f"a bottleneck stage's output channels are 4x its width, so {out_c} must divide by 4",
                key="channels",
            )
        if not bottleneck:
            for key, default in (("groups", 1), ("width", 64)):
                if getattr(self, key) != default:
                    raise self.error(
                        f"basic blocks have no {key} (torchvision's BasicBlock allows only groups "
                        "1 and width 64)",
                        "use `block: bottleneck` for ResNeXt and Wide ResNet, or remove it",
                        key=key,
                    )
        width = int(out_c // 4 * (self.width / 64.0)) * self.groups if bottleneck else out_c
        if width < 1:
            raise self.error(
                f"the bottleneck's 3x3 convolution would have {width} channels "
                f"(width {self.width} per 64 of {out_c // 4} planes, times {self.groups} groups)",
                "use a larger width",
                key="width",
            )
        grouped = self.groups != 1 or self.width != 64
        block = BOTTLENECK if bottleneck else BASIC_BLOCK
        ctx.init_weights = True
        entries = []
        for i in range(self.blocks):
            c, h, w = x.dims
            stride = self.stride if i == 0 else 1
            out = image(out_c, conv_out(h, 3, stride, 1), conv_out(w, 3, stride, 1))
            module = f"{prefix}.{start + i}"
            mark = ctx.mark()
            args: dict = {}
            if stride != 1:
                args["stride"] = stride
            if bottleneck:
                ctx.conv_row(f"{module}.conv1", 1, c, image(width, h, w), depth + 1)
                ctx.bn_row(f"{module}.bn1", image(width, h, w), depth + 1)
                mid = image(width, *out.dims[1:])
                ctx.conv_row(f"{module}.conv2", 3, width, mid, depth + 1, stride, self.groups)
                ctx.bn_row(f"{module}.bn2", mid, depth + 1)
                ctx.conv_row(f"{module}.conv3", 1, width, out, depth + 1)
                ctx.bn_row(f"{module}.bn3", out, depth + 1)
            else:
                ctx.conv_row(f"{module}.conv1", 3, c, out, depth + 1, stride)
                ctx.bn_row(f"{module}.bn1", out, depth + 1)
                ctx.conv_row(f"{module}.conv2", 3, out_c, out, depth + 1)
                ctx.bn_row(f"{module}.bn2", out, depth + 1)
            if self.se:
                se_row(ctx, f"{module}.se", out, self.se, depth + 1)
            if stride != 1 or c != out_c:
                if self.shortcut == "none":
                    raise self.error(
                        f"the first block changes the shape from {x} to {out}, so the shortcut "
                        "cannot be the identity",
                        "use shortcut: conv1x1 (torchvision) or conv3x3 (the tutorials)",
                        key="shortcut",
                    )
                k = 1 if self.shortcut == "conv1x1" else 3
                ctx.use(CONV_BN, by=self)
                projection = {"stride": stride} if stride != 1 else {}
                args["downsample"] = Ref("conv_bn")(c, out_c, kernel_size=k, **projection)
                ctx.conv_row(f"{module}.downsample.0", k, c, out, depth + 1, stride)
                ctx.bn_row(f"{module}.downsample.1", out, depth + 1)
            if self.groups != 1:
                args["groups"] = self.groups
            if self.width != 64:
                args["width_per_group"] = self.width
            if self.se:
                args["se_reduction"] = self.se
            ctx.group(mark, module, f"{self.block} block", out, depth)
            entries.append((Ref(block.name)(c, out_c, **args), out))
            x = out
        if self.se:
            ctx.use(SQUEEZE_EXCITATION, by=self)
        ctx.use(block, *(["se"] if self.se else []), *(["groups"] if grouped else []), by=self)
        return entries
