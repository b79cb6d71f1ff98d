"""`bneck`: MobileNetV3's block (Howard et al. 2019, section 5 and tables 1-2), laid out as
torchvision's models/mobilenetv3.py so that its ImageNet weights load key for key.

Each block is one line of the paper's table: kernel, expanded width ("exp size", a number of
channels, not a ratio), output channels, squeeze-excitation, activation ("NL": ReLU or
hardswish) and stride. The expansion is left out where the expanded width is the input's, as
torchvision does, so the keys of a block's layers are `block.0`, `block.1`, ... in order.
"""

from __future__ import annotations

from .base import (
    HOLE,
    Bool,
    Channels,
    Context,
    Fragment,
    Int,
    Layer,
    Ref,
    Shape,
    conv_out,
    image,
    spec_field,
    this,
    unit,
)

_CONV_BN_ACT = '''
def conv_bn_act(
    in_channels: int,
    out_channels: int,
    kernel: int = 1,
    stride: int = 1,
    groups: int = 1,
    activation: type[nn.Module] | None = None,
) -> nn.Sequential:
    """A convolution, batch norm (MobileNetV3's eps 0.001 and momentum 0.01) and an activation,
    none for a linear projection: torchvision's Conv2dNormActivation."""
    layers: list[nn.Module] = [
        nn.Conv2d(
            in_channels,
            out_channels,
            kernel,
            stride,
            padding=kernel // 2,
            groups=groups,
            bias=False,
        ),
        nn.BatchNorm2d(out_channels, eps=0.001, momentum=0.01),
    ]
    if activation is not None:
        layers.append(activation(inplace=True))
    return nn.Sequential(*layers)
'''

_SQUEEZE_EXCITATION = '''
def make_divisible(value: float, divisor: int = 8) -> int:
    """`value` rounded to a multiple of `divisor`, never below 90% of it (MobileNet's rounding)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


class HardSqueezeExcitation(nn.Module):
    """Squeeze-and-excitation as MobileNetV3 has it (torchvision.ops.SqueezeExcitation with a
    hardsigmoid gate): each channel scaled by a function of all channel means."""

    def __init__(self, channels: int, squeezed: int) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(channels, squeezed, kernel_size=1)
        self.fc2 = nn.Conv2d(squeezed, channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = x.mean((2, 3), keepdim=True)  # (N, C, 1, 1): squeeze
        scale = F.hardsigmoid(self.fc2(F.relu(self.fc1(scale))))  # excitation
        return x * scale
'''

_BLOCK = '''
class Bneck(nn.Module):
    """MobileNetV3's block (Howard et al. 2019, section 5; "bneck" in its tables): a 1x1
    expansion to `expanded` channels (none where that is the input's width), a k x k depthwise
    {se_doc}
    """

    def __init__(
        self,
        in_channels: int,
        expanded: int,
        out_channels: int,
        kernel: int = 3,
        stride: int = 1,{se_param}
        hardswish: bool = False,
    ) -> None:
        super().__init__()
        activation = nn.Hardswish if hardswish else nn.ReLU
        layers: list[nn.Module] = []
        if expanded != in_channels:
            layers.append(conv_bn_act(in_channels, expanded, activation=activation))
        layers.append(  # depthwise
            conv_bn_act(expanded, expanded, kernel, stride, groups=expanded, activation=activation)
        ){se_code}
        layers.append(conv_bn_act(expanded, out_channels))  # the linear projection
        self.block = nn.Sequential(*layers)
        self.use_residual = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_residual:
            return x + self.block(x)
        return self.block(x)
'''


_DOC = """convolution and a linear 1x1 projection; ReLU (or hardswish) after the first two.
    The input is added back where the shape stays. torchvision's layout and state_dict
    keys."""
_DOC_SE = """convolution, squeeze-excitation where `se`, and a linear 1x1 projection; ReLU (or
    hardswish) after the first two. The input is added back where the shape stays.
    torchvision's layout and state_dict keys."""


def _source(flags: frozenset[str]) -> str:
    """The helpers and the block's class; the squeeze-excitation only where a block has one."""
    se = "se" in flags
    block = _BLOCK.format(
        se_doc=_DOC_SE if se else _DOC,
        se_param="\n        se: bool = False," if se else "",
        se_code=(
            "\n        if se:\n"
            "            layers.append(HardSqueezeExcitation(expanded, make_divisible(expanded // 4)))"
            if se
            else ""
        ),
    )
    parts = [_CONV_BN_ACT, _SQUEEZE_EXCITATION, block] if se else [_CONV_BN_ACT, block]
    return "\n\n".join(part.strip("\n") for part in parts)


BNECK = Fragment(
    "Bneck",
    _source,
    uses=("torch", "nn", "F"),
    defines=("conv_bn_act", "make_divisible", "HardSqueezeExcitation", "Bneck"),
)


def make_divisible(value: float, divisor: int = 8) -> int:
    """torchvision's _make_divisible, as the generated make_divisible computes it."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


@unit("bneck")
class Bneck(Layer):
    """MobileNetV3's block (the paper's bneck): 1x1 expansion to `expanded` channels, k x k
    depthwise, optional squeeze-excitation, linear 1x1 projection; residual where the shape stays.
    """

    NAMED_ENTRY = True

    NAME = "block"
    FRAGMENTS = (BNECK,)
    out: int = spec_field(Channels, doc="output channels (#out in the paper's table)")
    expanded: int = spec_field(
        Channels, doc="channels of the expansion and the depthwise convolution (exp size)"
    )
    kernel: int = spec_field(Int(min=1, max=9), 3, "kernel of the depthwise convolution (odd)")
    stride: int = spec_field(Int(min=1, max=2), 1, "stride of the depthwise convolution")
    se: bool = spec_field(Bool(), False, "squeeze-excitation after the depthwise convolution")
    hardswish: bool = spec_field(
        Bool(), False, "hardswish instead of ReLU (the paper's NL column: HS rather than RE)"
    )

    def plan(self, x: Shape, ctx: Context) -> Shape:
        name = ctx.name(self)
        ((call, out),) = self.entries(x, ctx, "", name, depth=0)
        ctx.module(name, call)
        ctx.forward.start(this(name)(HOLE), out.comment())
        return out

    def entries(self, x: Shape, ctx: Context, prefix: str, start, depth: int):
        self.need_image(x)
        if self.kernel % 2 == 0:
            raise self.error(
                f"kernel {self.kernel} is even: the block keeps the size with an odd kernel",
                "use 3 or 5",
                key="kernel",
            )
        ctx.use(BNECK, *(("se",) if self.se else ()), by=self)
        ctx.init_weights = True
        c, h, w = x.dims
        e, k, s = self.expanded, self.kernel, self.stride
        module = f"{prefix}.{start}" if prefix else start
        out = image(self.out, conv_out(h, k, s, k // 2), conv_out(w, k, s, k // 2))
        mid = image(e, *out.dims[1:])
        mark = ctx.mark()
        index = 0

        def conv_bn(kernel: int, in_channels: int, shape: Shape, label: str, **conv) -> None:
            nonlocal index
            inner = ctx.mark()
            at = f"{module}.block.{index}"
            ctx.conv_row(f"{at}.0", kernel, in_channels, shape, depth + 2, **conv)
            ctx.bn_row(f"{at}.1", shape, depth + 2)
            ctx.group(inner, at, label, shape, depth + 1)
            index += 1

        if e != c:
            conv_bn(1, c, image(e, h, w), "expansion")
        conv_bn(k, e, mid, "depthwise", stride=s, groups=e)
        if self.se:
            squeezed = make_divisible(e // 4)
            ctx.row(
                f"{module}.block.{index}",
                f"squeeze-excitation {e}->{squeezed}->{e}",
                mid,
                2 * e * squeezed + squeezed + e,
                2 * e * squeezed,
                depth + 1,
            )
            index += 1
        conv_bn(1, e, out, "projection")
        residual = s == 1 and c == self.out
        ctx.group(mark, module, f"bneck {k}x{k}, {e}" + (" + x" if residual else ""), out, depth)
        args: dict = {}
        if k != 3:
            args["kernel"] = k
        if s != 1:
            args["stride"] = s
        if self.se:
            args["se"] = True
        if self.hardswish:
            args["hardswish"] = True
        return [(Ref("Bneck")(c, e, self.out, **args), out)]
