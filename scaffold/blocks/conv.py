"""`conv`: a 2-D convolution; its input channels are inferred."""

from __future__ import annotations

from typing import Any

from .base import (
    Bool,
    Channels,
    Context,
    Enum,
    Int,
    OneOf,
    Pair,
    Shape,
    Simple,
    SimpleLayer,
    Size,
    Var,
    conv_out,
    image,
    is_symbolic,
    nn,
    pair,
    spec_field,
    unit,
)
from .emit import Symbolic


@unit("conv", "conv2d", "convolution")
class Conv(SimpleLayer):
    """2-D convolution; input channels are inferred."""

    SHORTHAND = "out"
    NAME = "conv"
    out: Any = spec_field(
        OneOf(Channels, Enum("classes"), what="an integer ≥ 1 or `classes`"),
        doc="output channels, or `classes` for the number of classes (SqueezeNet's classifier)",
    )
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

    def simple(self, x: Shape, ctx: Context, in_sequential: bool) -> Simple:
        self.need_image(x)
        c, h, w = x.dims
        out_channels = self.out
        if self.out == "classes":
            out_channels = ctx.classes(self)
        kh, kw = self.kernel
        sh, sw = self.stride
        dh, dw = self.dilation
        if self.padding == "same":
            if (sh, sw) != (1, 1):
                raise self.error(
                    "padding `same` only works with stride 1",
                    f"give the padding as a number, e.g. {(kh - 1) // 2}",
                    key="padding",
                )
            ph, pw = (dh * (kh - 1)) // 2, (dw * (kw - 1)) // 2
        else:
            ph, pw = self.padding
        if c % self.groups or out_channels % self.groups:
            raise self.error(
                f"groups={self.groups} must divide both the input channels ({c}) "
                f"and out ({out_channels})",
                key="groups",
            )
        span_h, span_w = dh * (kh - 1) + 1, dw * (kw - 1) + 1
        if h + 2 * ph < span_h or w + 2 * pw < span_w:
            kernel = f"kernel {kh}x{kw}"
            if (span_h, span_w) != (kh, kw):
                kernel += f" (spanning {span_h}x{span_w} with dilation {dh}x{dw})"
            padded = f" (padded to {h + 2 * ph}x{w + 2 * pw})" if (ph, pw) != (0, 0) else ""
            raise self.error(
                f"input {x}{padded} is smaller than {kernel}",
                "use a smaller kernel, add padding, or remove a pooling layer before it",
            )
        if self.padding == "same":
            out = image(out_channels, h, w)
        else:
            out = image(out_channels, conv_out(h, kh, sh, ph, dh), conv_out(w, kw, sw, pw, dw))
        args: dict[str, Any] = {"kernel_size": pair(self.kernel)}
        if self.stride != (1, 1) or is_symbolic(self.stride):
            args["stride"] = pair(self.stride)
        if self.padding == "same":
            args["padding"] = "same"
        elif (ph, pw) != (0, 0) or is_symbolic(self.padding):
            args["padding"] = pair(self.padding)  # a defined block's argument by its name
        if self.dilation != (1, 1) or is_symbolic(self.dilation):
            args["dilation"] = pair(self.dilation)
        if self.groups != 1 or is_symbolic(self.groups):
            args["groups"] = self.groups
        if not self.bias:
            args["bias"] = False
        # a defined block's arguments named as nn.Conv2d's go by position, as torchvision's
        # BasicConv2d writes nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding)
        positional = []
        for key in ("kernel_size", "stride", "padding", "dilation", "groups"):
            value = args.get(key)
            if not (isinstance(value, Symbolic) and value.expr == Var(key)):
                break
            positional.append(args.pop(key))
        # the counts in plain numbers: in a defined block the sizes carry their code
        per_output = int(c) // int(self.groups) * int(kh) * int(kw)
        params = int(out_channels) * per_output + (int(out_channels) if self.bias else 0)
        stride = f"/{self.stride[0]}" if self.stride != (1, 1) else ""
        # one filter per channel: inspect says so, as the hand-written units' rows did
        depthwise = int(self.groups) > 1 and int(self.groups) == int(c) == int(out_channels)
        return Simple(
            out,
            nn.Conv2d(
                c,
                Var("num_classes") if self.out == "classes" else out_channels,
                *positional,
                **args,
            ),
            f"{'depthwise conv' if depthwise else 'conv'} {kh}x{kw}{stride}",
            params,
            out.count * per_output,
            joinable=True,
        )
