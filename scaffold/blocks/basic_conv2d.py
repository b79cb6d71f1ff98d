"""`basic_conv2d`: torchvision's BasicConv2d of GoogLeNet and Inception v3, a convolution without
bias, batch norm with eps 0.001 and ReLU, one module whose state_dict keys are `conv` and `bn`."""

from __future__ import annotations

from .base import (
    HOLE,
    Channels,
    Context,
    Fragment,
    Int,
    Layer,
    Pair,
    Ref,
    Shape,
    Size,
    conv_out,
    image,
    is_symbolic,
    pair,
    spec_field,
    this,
    unit,
)

BASIC_CONV2D = Fragment(
    "BasicConv2d",
    '''
class BasicConv2d(nn.Module):
    """A convolution without bias, batch norm and ReLU (torchvision's BasicConv2d)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=False)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))
''',
    uses=("torch", "nn", "F"),
)


@unit("basic_conv2d")
class BasicConv(Layer):
    """torchvision's BasicConv2d (GoogLeNet, Inception v3): a convolution without bias, batch norm
    (eps 0.001) and ReLU; its input channels are inferred."""

    NAMED_ENTRY = True
    SHORTHAND = "out"
    NAME = "conv"
    FRAGMENTS = (BASIC_CONV2D,)
    out: int = spec_field(Channels, doc="output channels")
    kernel: tuple[int, int] = spec_field(Pair(Size), (1, 1), "kernel size, or [height, width]")
    stride: tuple[int, int] = spec_field(Pair(Size), (1, 1), "stride")
    padding: tuple[int, int] = spec_field(Pair(Int(min=0, max=10_000)), (0, 0), "zero padding")

    def _build(self, x: Shape, ctx: Context, module: str, depth: int):
        """The module's construction and output; its rows (conv, bn) under `module`."""
        self.need_image(x)
        c, h, w = x.dims
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        if h + 2 * ph < kh or w + 2 * pw < kw:
            raise self.error(
                f"input {x} is smaller than kernel {kh}x{kw}",
                "use a smaller kernel, add padding, or remove a pooling layer before it",
            )
        out = image(self.out, conv_out(h, kh, sh, ph), conv_out(w, kw, sw, pw))
        keywords = {"kernel_size": pair(self.kernel)}
        if self.stride != (1, 1) or is_symbolic(self.stride):
            keywords["stride"] = pair(self.stride)
        if self.padding != (0, 0) or is_symbolic(self.padding):
            keywords["padding"] = pair(self.padding)
        ctx.use(BASIC_CONV2D, by=self)
        per_output = c * kh * kw
        label = f"conv {kh}x{kw}" + (f"/{sh}" if (sh, sw) != (1, 1) else "")
        mark = ctx.mark()
        ctx.row(
            f"{module}.conv", label, out, self.out * per_output, out.numel * per_output, depth + 1
        )
        ctx.bn_row(f"{module}.bn", out, depth + 1)
        ctx.group(mark, module, "basic conv", out, depth)
        return Ref("BasicConv2d")(c, self.out, **keywords), out

    def plan(self, x: Shape, ctx: Context) -> Shape:
        name = ctx.name(self)
        ctor, out = self._build(x, ctx, name, 0)
        ctx.module(name, ctor)
        ctx.forward.start(this(name)(HOLE), out.comment())
        return out

    def entries(self, x: Shape, ctx: Context, prefix: str, start, depth: int):
        ctor, out = self._build(x, ctx, f"{prefix}.{start}", depth)
        return [(ctor, out)]
