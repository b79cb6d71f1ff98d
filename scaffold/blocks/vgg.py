"""`vgg`: VGG's convolutional features from a cfg list (Simonyan & Zisserman 2015), laid out as
torchvision's models/vgg.py so that its ImageNet weights load key for key."""

from __future__ import annotations

from typing import Any

from ..presets import TORCHVISION_VGG, TORCHVISION_WEIGHTS, VGG_CFGS
from .base import (
    HOLE,
    Bool,
    Channels,
    Context,
    Enum,
    Float,
    Fragment,
    Layer,
    ListOf,
    OneOf,
    PretrainedLoad,
    Ref,
    Shape,
    Slice,
    Str,
    image,
    spec_field,
    this,
    unit,
)

MAKE_LAYERS = Fragment(
    "make_layers",
    '''
def make_layers(
    cfg: list, batch_norm: bool = False, in_channels: int = 3
) -> nn.Sequential:
    """VGG features from a cfg list, with the state_dict keys of torchvision's models/vgg.py."""
    layers: list[nn.Module] = []
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers.append(nn.Conv2d(in_channels, v, kernel_size=3, padding=1))
            if batch_norm:
                layers.append(nn.BatchNorm2d(v))
            layers.append(nn.ReLU(inplace=True))
            in_channels = v
    return nn.Sequential(*layers)
''',
    uses=("nn",),
)

CFG_COMMENT = (
    "# VGG configurations (Simonyan & Zisserman 2015, table 1): numbers are 3x3 convolutions with\n"
    '# that many channels, "M" is a 2x2 max pool.'
)

VggEntry = OneOf(Channels, Enum("M"), what="a channel count or M")


@unit("vgg")
class Vgg(Layer):
    """VGG convolutional features from a `cfg` list as in the paper: numbers are 3x3 convs, M is a 2x2 max pool."""

    SHORTHAND = "cfg"
    NAME = "features"
    FRAGMENTS = (MAKE_LAYERS,)
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

    def plan(self, x: Shape, ctx: Context) -> Shape:
        self.need_image(x)
        preset = self.cfg if isinstance(self.cfg, str) else None
        cfg = list(VGG_CFGS[preset]) if preset else list(self.cfg)
        if not self.last_pool:
            if cfg[-1] != "M":
                raise self.error(
                    "last_pool: false removes a final M, but this cfg does not end with M",
                    key="last_pool",
                )
            cfg = cfg[:-1]
        if self.width != 1.0:
            cfg = [v if v == "M" else max(1, round(v * self.width)) for v in cfg]
        pretrained = self._pretrained(preset, x)
        name = ctx.name(self)
        if pretrained:
            pretrained.target = name
            ctx.pretrained.append(pretrained)
        # the constant: the preset by name when unchanged, else the list itself
        if preset and self.width == 1.0:
            ctx.constant(preset, VGG_CFGS[preset], CFG_COMMENT, rows_end_at="M")
            cfg_arg = Ref(preset) if self.last_pool else Ref(preset)[Slice(None, -1)]
        else:
            taken = [c.name for c in ctx.constants]
            constant = "CFG" if "CFG" not in taken else f"CFG{len(ctx.constants) + 1}"
            ctx.constant(constant, cfg, CFG_COMMENT, rows_end_at="M")
            cfg_arg = Ref(constant)
        args = {}
        if self.batch_norm:
            args["batch_norm"] = True
        if x.dims[0] != 3:
            args["in_channels"] = x.dims[0]
        ctx.use(MAKE_LAYERS, by=self)
        ctx.init_weights = True
        mark = ctx.mark()
        index = 0
        for position, value in enumerate(cfg):
            if value == "M":
                c, h, w = x.dims
                if h < 2 or w < 2:
                    raise self.error(
                        f"input {x} is smaller than kernel 2x2",
                        "remove this M, or use a larger input",
                        key=f"cfg[{position}] ({value})",
                    )
                x = image(c, h // 2, w // 2)
                ctx.row(f"{name}.{index}", "maxpool 2x2", x, depth=1)
                index += 1
                continue
            c, h, w = x.dims
            out = image(value, h, w)
            ctx.conv_row(f"{name}.{index}", 3, c, out, depth=1, bias=True)
            index += 1
            if self.batch_norm:
                ctx.bn_row(f"{name}.{index}", out, depth=1)
                index += 1
            ctx.row(f"{name}.{index}", "relu", out, depth=1)
            index += 1
            x = out
        ctx.group(mark, name, f"vgg {preset}" if preset else "vgg", x)
        ctx.module(name, Ref("make_layers")(cfg_arg, **args))
        ctx.forward.start(this(name)(HOLE), x.comment())
        return x

    def _pretrained(self, preset: str | None, x: Shape) -> PretrainedLoad | None:
        if not self.pretrained:
            return None
        arch = self.pretrained.split("/", 1)[1]
        if arch not in TORCHVISION_VGG:
            raise self.error(
                f"torchvision has no VGG weights named '{arch}'",
                "one of " + ", ".join("torchvision/" + a for a in TORCHVISION_VGG),
                key="pretrained",
                at_key=True,
            )
        wanted_cfg, wanted_bn = TORCHVISION_VGG[arch]
        same_cfg = preset == wanted_cfg or (not preset and self.cfg == VGG_CFGS[wanted_cfg])
        if not same_cfg or wanted_bn != self.batch_norm or self.width != 1.0:
            raise self.error(
                f"torchvision's {arch} weights need cfg {wanted_cfg}, batch_norm "
                f"{str(wanted_bn).lower()} and width 1",
                "change the cfg to match, or remove `pretrained`",
                key="pretrained",
                at_key=True,
            )
        if x.dims[0] != 3:
            raise self.error(
                f"ImageNet weights expect 3 input channels, this input has {x.dims[0]}",
                key="pretrained",
                at_key=True,
            )
        enum, member = TORCHVISION_WEIGHTS[arch]
        return PretrainedLoad(arch, enum, member, "", "features.")
