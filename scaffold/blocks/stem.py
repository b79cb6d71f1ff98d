"""`stem`: a ResNet's first layers, with torchvision's names (conv1, bn1, relu, maxpool)."""

from __future__ import annotations

from .base import (
    HOLE,
    Channels,
    Context,
    Enum,
    Layer,
    Shape,
    conv_out,
    image,
    nn,
    spec_field,
    this,
    unit,
)


@unit("stem")
class Stem(Layer):
    """ResNet stem: `cifar` (conv3x3 + BN + ReLU) or `imagenet` (conv7x7 stride 2 + BN + ReLU + maxpool)."""

    SHORTHAND = "style"
    NAME = "conv"  # its conv and bn are numbered with the others: conv1, bn1 as in torchvision
    style: str = spec_field(Enum("cifar", "imagenet"), doc="cifar (32 px) or imagenet (224 px)")
    channels: int = spec_field(Channels, 64, "output channels")

    def plan(self, x: Shape, ctx: Context) -> Shape:
        self.need_image(x)
        c, h, w = x.dims
        out_c = self.channels
        conv = ctx.name(None, "conv", single_ok=False)
        bn = ctx.name(None, "bn", single_ok=False)
        relu = ctx.fixed_name("relu")
        k, s, p = (7, 2, 3) if self.style == "imagenet" else (3, 1, 1)
        if h + 2 * p < k or w + 2 * p < k:
            raise self.error(f"input {x} is smaller than kernel {k}x{k}")
        after_conv = image(out_c, conv_out(h, k, s, p), conv_out(w, k, s, p))
        mark = ctx.mark()
        stride = {"stride": s} if s != 1 else {}
        ctx.module(conv, nn.Conv2d(c, out_c, kernel_size=k, **stride, padding=p, bias=False))
        ctx.module(bn, nn.BatchNorm2d(out_c))
        ctx.module(relu, nn.ReLU(inplace=True), params=False)
        ctx.conv_row(conv, k, c, after_conv, depth=1, stride=s)
        ctx.bn_row(bn, after_conv, depth=1)
        ctx.row(relu, "relu", after_conv, depth=1)
        ctx.forward.start(this(relu)(this(bn)(this(conv)(HOLE))), after_conv.comment())
        out = after_conv
        if self.style == "imagenet":
            _, h2, w2 = after_conv.dims
            if h2 < 2 or w2 < 2:
                raise self.error(f"input {after_conv} is too small for the stem's max pool")
            out = image(out_c, conv_out(h2, 3, 2, 1), conv_out(w2, 3, 2, 1))
            pool = ctx.fixed_name("maxpool")
            ctx.module(pool, nn.MaxPool2d(kernel_size=3, stride=2, padding=1), params=False)
            ctx.row(pool, "maxpool 3x3/2", out, depth=1)
            ctx.forward.start(this(pool)(HOLE), out.comment())
        ctx.group(mark, "", f"stem ({self.style})", out)
        ctx.init_weights = True
        return out
