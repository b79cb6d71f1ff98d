"""`basic_conv2d`: torchvision's BasicConv2d of GoogLeNet and Inception v3, a convolution without
bias, batch norm with eps 0.001 and ReLU, one module whose state_dict keys are `conv` and `bn`.
The block is written in the blueprint language (basic_conv2d.yaml); this unit gives its words."""

from __future__ import annotations

from typing import Any

from .base import Channels, Int, Pair, Shape, Size, spec_field, unit
from .defined import BundledBlock


@unit("basic_conv2d")
class BasicConv(BundledBlock):
    """torchvision's BasicConv2d (GoogLeNet, Inception v3): a convolution without bias, batch norm
    (eps 0.001) and ReLU; its input channels are inferred."""

    FILE = "basic_conv2d"
    POSITIONAL = ("out_channels",)
    SHORTHAND = "out"
    NAME = "conv"
    out: int = spec_field(Channels, doc="output channels")
    kernel: tuple[int, int] = spec_field(Pair(Size), (1, 1), "kernel size, or [height, width]")
    stride: tuple[int, int] = spec_field(Pair(Size), (1, 1), "stride")
    padding: tuple[int, int] = spec_field(Pair(Int(min=0, max=10_000)), (0, 0), "zero padding")

    def label(self, x: Shape, out: Shape) -> str:
        return "basic conv"

    def check_input(self, x: Shape) -> None:
        self.need_image(x)

    def arguments(self) -> dict[str, Any]:
        return {
            "out_channels": self.out,
            "kernel_size": self.kernel,
            "stride": self.stride,
            "padding": self.padding,
        }
