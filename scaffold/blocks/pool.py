"""Pooling: `maxpool`, `avgpool` (a window), `adaptive_avgpool` and `global_avgpool` (to a size)."""

from __future__ import annotations

from typing import Any

from .base import (
    Bool,
    Context,
    Int,
    Pair,
    Shape,
    Simple,
    SimpleLayer,
    Size,
    conv_out,
    image,
    nn,
    pair,
    section,
    spec_field,
    unit,
)


@section
class Pool(SimpleLayer):
    SHORTHAND = "kernel"
    NAME = "pool"
    kernel: tuple[int, int] = spec_field(Pair(Size), (2, 2), "window size")
    stride: tuple[int, int] | None = spec_field(
        Pair(Size), None, "step between windows (default: the kernel size)"
    )
    padding: tuple[int, int] = spec_field(Pair(Int(min=0)), (0, 0), "zero padding")
    ceil_mode: bool = spec_field(Bool(), False, "round the output size up")

    def out_shape(self, x: Shape) -> Shape:
        self.need_image(x)
        c, h, w = x.dims
        kh, kw = self.kernel
        sh, sw = self.stride or self.kernel
        ph, pw = self.padding
        if ph * 2 > kh or pw * 2 > kw:
            raise self.error(
                f"padding {ph}x{pw} is more than half of the kernel {kh}x{kw}",
                "PyTorch allows at most half the kernel size as pooling padding",
                key="padding",
            )
        if h + 2 * ph < kh or w + 2 * pw < kw:
            raise self.error(
                f"input {x} is smaller than kernel {kh}x{kw}",
                "remove this pooling layer, or use a larger input",
            )
        return image(
            c,
            conv_out(h, kh, sh, ph, ceil=self.ceil_mode),
            conv_out(w, kw, sw, pw, ceil=self.ceil_mode),
        )

    def simple(self, x: Shape, ctx: Context, in_sequential: bool) -> Simple:
        out = self.out_shape(x)
        args: dict[str, Any] = {"kernel_size": pair(self.kernel)}
        if self.stride is not None and self.stride != self.kernel:
            args["stride"] = pair(self.stride)
        if self.padding != (0, 0):
            args["padding"] = pair(self.padding)
        if self.ceil_mode:
            args["ceil_mode"] = True
        cls = nn.MaxPool2d if isinstance(self, MaxPool) else nn.AvgPool2d
        kind = "maxpool" if isinstance(self, MaxPool) else "avgpool"
        return Simple(out, cls(**args), f"{kind} {self.kernel[0]}x{self.kernel[1]}")


@unit("maxpool", "max_pool", "maxpool2d", "M")
class MaxPool(Pool):
    """Max pooling."""


@unit("avgpool", "avg_pool", "avgpool2d")
class AvgPool(Pool):
    """Average pooling."""


@unit("adaptive_avgpool", "adaptive_avg_pool", "adaptiveavgpool2d")
class AdaptiveAvgPool(SimpleLayer):
    """Average pooling to a fixed output size, whatever the input size."""

    SHORTHAND = "size"
    NAME = "avgpool"
    size: tuple[int, int] = spec_field(Pair(Size), (1, 1), "output height and width")

    def simple(self, x: Shape, ctx: Context, in_sequential: bool) -> Simple:
        return _adaptive(self, x, self.size)


@unit("global_avgpool", "global_avg_pool", "gap")
class GlobalAvgPool(SimpleLayer):
    """Average over all positions: C x H x W becomes C x 1 x 1 (flatten it before a linear layer)."""

    NAME = "avgpool"

    def simple(self, x: Shape, ctx: Context, in_sequential: bool) -> Simple:
        return _adaptive(self, x, (1, 1))


def _adaptive(layer: SimpleLayer, x: Shape, size: tuple[int, int]) -> Simple:
    layer.need_image(x)
    h, w = size
    return Simple(image(x.dims[0], h, w), nn.AdaptiveAvgPool2d((h, w)), f"adaptive avgpool {h}x{w}")
