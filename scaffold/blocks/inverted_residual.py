"""`inverted_residual`: MobileNetV2's block (Sandler et al. 2018), laid out as torchvision's
models/mobilenetv2.py so that its ImageNet weights load key for key. The block is written in the
blueprint language (inverted_residual.yaml); this unit gives its words and repeats it `blocks`
times, the first with the stride, as torchvision's table does."""

from __future__ import annotations

from typing import Any

from .base import Channels, Context, Int, Shape, spec_field, unit
from .defined import BundledBlock
from .sequential import wrap_entries


@unit("inverted_residual")
class InvertedResidualBlocks(BundledBlock):
    """MobileNetV2's inverted residual blocks: 1x1 expansion, 3x3 depthwise, linear 1x1 projection, ReLU6, residual when the shape stays."""

    FILE = "inverted_residual"
    POSITIONAL = ("out_channels",)
    NAMED_ENTRY = False
    NAME = "block"
    out: int = spec_field(Channels, doc="output channels")
    expansion: int = spec_field(
        Int(min=1, max=64), 6, "expansion factor t: the depthwise convolution has t x in channels"
    )
    blocks: int = spec_field(Int(min=1, max=1000), 1, "number of blocks (n in the paper's table)")
    stride: int = spec_field(Int(min=1, max=2), 1, "stride of the first block")

    def plan(self, x: Shape, ctx: Context) -> Shape:
        return wrap_entries(self, x, ctx, f"inverted residual x{self.blocks}")

    def entries(self, x: Shape, ctx: Context, prefix: str, start: int, depth: int):
        ctx.init_weights = True  # torchvision's initialisation, as MobileNetV2 has it
        made = []
        for i in range(self.blocks):
            self._first = i == 0
            made += super().entries(x, ctx, prefix, start + i, depth)
            x = made[-1][1]
        return made

    def label(self, x: Shape, out: Shape) -> str:
        residual = x.dims == out.dims
        return f"inverted residual t{self.expansion}" + (" + x" if residual else "")

    def check_input(self, x: Shape) -> None:
        self.need_image(x)

    def arguments(self) -> dict[str, Any]:
        stride = self.stride if getattr(self, "_first", True) else 1
        return {"out_channels": self.out, "stride": stride, "expansion": self.expansion}
