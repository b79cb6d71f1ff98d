"""`inverted_residual`: MobileNetV2's block (Sandler et al. 2018), laid out as torchvision's
models/mobilenetv2.py so that its ImageNet weights load key for key."""

from __future__ import annotations

from .base import (
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
    unit,
)
from .sequential import wrap_entries

INVERTED_RESIDUAL = Fragment(
    "InvertedResidual",
    '''
class InvertedResidual(nn.Module):
    """MobileNetV2's inverted residual (Sandler et al. 2018): a 1x1 expansion to `expansion` times
    the channels, a 3x3 depthwise convolution, and a linear 1x1 projection (no activation after
    it); the input is added back when the shapes agree. torchvision's layout and state_dict keys.
    """

    def __init__(
        self, in_channels: int, out_channels: int, stride: int = 1, expansion: int = 6
    ) -> None:
        super().__init__()
        hidden = round(in_channels * expansion)
        layers: list[nn.Module] = []
        if expansion != 1:
            layers.append(
                nn.Sequential(  # expansion
                    nn.Conv2d(in_channels, hidden, kernel_size=1, bias=False),
                    nn.BatchNorm2d(hidden),
                    nn.ReLU6(inplace=True),
                )
            )
        layers += [
            nn.Sequential(  # depthwise
                nn.Conv2d(
                    hidden,
                    hidden,
                    kernel_size=3,
                    stride=stride,
                    padding=1,
                    groups=hidden,
                    bias=False,
                ),
                nn.BatchNorm2d(hidden),
                nn.ReLU6(inplace=True),
            ),
            # the linear bottleneck: no activation after the projection
            nn.Conv2d(hidden, out_channels, kernel_size=1, bias=False),
            nn.BatchNorm2d(out_channels),
        ]
        self.conv = nn.Sequential(*layers)
        self.use_residual = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_residual:
            return x + self.conv(x)
        return self.conv(x)
''',
)


@unit("inverted_residual")
class InvertedResidualBlocks(Layer):
    """MobileNetV2's inverted residual blocks: 1x1 expansion, 3x3 depthwise, linear 1x1 projection, ReLU6, residual when the shape stays."""

    NAME = "block"
    FRAGMENTS = (INVERTED_RESIDUAL,)
    out: int = spec_field(Channels, doc="output channels")
    expansion: int = spec_field(
        Int(min=1, max=64), 6, "expansion factor t: the depthwise convolution has t x in channels"
    )
    blocks: int = spec_field(Int(min=1, max=1000), 1, "number of blocks (n in the paper's table)")
    stride: int = spec_field(Int(min=1, max=2), 1, "stride of the first block")

    def plan(self, x: Shape, ctx: Context) -> Shape:
        return wrap_entries(self, x, ctx, f"inverted residual x{self.blocks}")

    def entries(self, x: Shape, ctx: Context, prefix: str, start: int, depth: int):
        self.need_image(x)
        ctx.use(INVERTED_RESIDUAL, by=self)
        ctx.init_weights = True
        entries = []
        for i in range(self.blocks):
            c, h, w = x.dims
            stride = self.stride if i == 0 else 1
            hidden = round(c * self.expansion)
            module = f"{prefix}.{start + i}"
            out = image(self.out, conv_out(h, 3, stride, 1), conv_out(w, 3, stride, 1))
            mark = ctx.mark()
            index = 0
            if self.expansion != 1:
                expanded = image(hidden, h, w)
                ctx.conv_row(f"{module}.conv.0.0", 1, c, expanded, depth + 2)
                ctx.bn_row(f"{module}.conv.0.1", expanded, depth + 2)
                ctx.group(mark, f"{module}.conv.0", "expansion", expanded, depth + 1)
                index = 1
            inner = ctx.mark()
            mid = image(hidden, *out.dims[1:])
            ctx.conv_row(f"{module}.conv.{index}.0", 3, hidden, mid, depth + 2, stride, hidden)
            ctx.bn_row(f"{module}.conv.{index}.1", mid, depth + 2)
            ctx.group(inner, f"{module}.conv.{index}", "depthwise", mid, depth + 1)
            ctx.conv_row(f"{module}.conv.{index + 1}", 1, hidden, out, depth + 1)
            ctx.bn_row(f"{module}.conv.{index + 2}", out, depth + 1)
            residual = stride == 1 and c == self.out
            label = f"inverted residual t{self.expansion}" + (" + x" if residual else "")
            ctx.group(mark, module, label, out, depth)
            args = {}
            if stride != 1:
                args["stride"] = stride
            if self.expansion != 6:
                args["expansion"] = self.expansion
            entries.append((Ref("InvertedResidual")(c, self.out, **args), out))
            x = out
        return entries
