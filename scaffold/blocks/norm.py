"""`layer_norm` and `group_norm`: normalisation over each sample's own features."""

from __future__ import annotations

from .base import (
    Context,
    Float,
    Fragment,
    Int,
    Ref,
    Shape,
    Simple,
    SimpleLayer,
    nn,
    spec_field,
    unit,
)

LAYER_NORM_2D = Fragment(
    "LayerNorm2d",
    '''
class LayerNorm2d(nn.LayerNorm):
    """Layer norm over the channels of each position of an (N, C, H, W) image (ConvNeXt's)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)
''',
    uses=("torch", "nn", "F"),
)


@unit("layer_norm", "layernorm", "ln")
class LayerNorm(SimpleLayer):
    """Layer normalisation over the channels: of each position of an image (channels first,
    ConvNeXt's LayerNorm2d), or of the last dimension (vectors, words, a channels-last image)."""

    NAME = "norm"
    FRAGMENTS = (LAYER_NORM_2D,)
    eps: float = spec_field(Float(above=0), 1e-5, "added to the variance (ConvNeXt: 1e-6)")

    def simple(self, x: Shape, ctx: Context, in_sequential: bool) -> Simple:
        if x.kind == "tokens":
            raise self.error("layer_norm cannot act on word ids; embed them first")
        args = {"eps": self.eps} if self.eps != 1e-5 else {}
        if x.kind == "image":
            ctx.use(LAYER_NORM_2D, by=self)
            channels, ctor = x.dims[0], Ref("LayerNorm2d")(x.dims[0], **args)
        else:
            channels = x.dims[-1]
            ctor = nn.LayerNorm(channels, **args)
        return Simple(x, ctor, "layer norm", 2 * channels, joins=True)


@unit("group_norm", "groupnorm", "gn")
class GroupNorm(SimpleLayer):
    """Group normalisation (Wu & He 2018): an image's channels in `groups` groups, each normalised
    over its channels and positions."""

    SHORTHAND = "groups"
    NAME = "norm"
    groups: int = spec_field(
        Int(min=1, max=65_536), 32, "number of groups (the channels divide by it)"
    )
    eps: float = spec_field(Float(above=0), 1e-5, "added to the variance")

    def simple(self, x: Shape, ctx: Context, in_sequential: bool) -> Simple:
        self.need_image(x)
        channels = x.dims[0]
        if channels % self.groups:
            raise self.error(
                f"{channels} channels do not divide into {self.groups} groups", key="groups"
            )
        args = {"eps": self.eps} if self.eps != 1e-5 else {}
        ctor = nn.GroupNorm(self.groups, channels, **args)
        return Simple(x, ctor, f"group norm /{self.groups}", 2 * channels, joins=True)
