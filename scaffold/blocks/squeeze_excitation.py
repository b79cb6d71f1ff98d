"""Squeeze-and-excitation (Hu et al. 2018): the helper class, its counts, and `squeeze_excitation`
as a layer of its own. Residual stages put it inside their blocks (`stage: {se: 16}`)."""

from __future__ import annotations

from .base import (
    HOLE,
    Context,
    Fragment,
    Int,
    Layer,
    Ref,
    Shape,
    spec_field,
    this,
    unit,
)

SQUEEZE_EXCITATION = Fragment(
    "SqueezeExcitation",
    '''
class SqueezeExcitation(nn.Module):
    """Squeeze-and-excitation (Hu et al. 2018): s = sigmoid(W2 relu(W1 z)), z the channel means.

    Each sample's channels are scaled by that sample's own weights, exactly once.
    """

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        squeezed = max(1, channels // reduction)  # 16 // 16 is fine, 8 // 16 would be 0
        self.fc1 = nn.Linear(channels, squeezed)
        self.fc2 = nn.Linear(squeezed, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = x.mean(dim=(2, 3))  # (N, C): squeeze
        # (N, C): excitation, per sample
        s = torch.sigmoid(self.fc2(F.relu(self.fc1(z))))
        return x * s[:, :, None, None]
''',
    uses=("torch", "nn", "F"),
)


def se_row(ctx: Context, module: str, x: Shape, reduction: int, depth: int) -> None:
    """The row of a SqueezeExcitation on `x`: two linear layers on the channel means."""
    channels = x.dims[0]
    squeezed = max(1, channels // reduction)
    ctx.row(
        module,
        f"squeeze-excitation {channels}->{squeezed}->{channels}",
        x,
        2 * channels * squeezed + squeezed + channels,
        2 * channels * squeezed,
        depth,
    )


@unit("squeeze_excitation", "se")
class SqueezeExcitationLayer(Layer):
    """Squeeze-and-excitation: each channel scaled by a learned function of all channel means."""

    NAMED_ENTRY = True

    SHORTHAND = "reduction"
    NAME = "se"
    FRAGMENTS = (SQUEEZE_EXCITATION,)
    reduction: int = spec_field(Int(min=1, max=1024), 16, "reduction ratio r of the hidden layer")

    def plan(self, x: Shape, ctx: Context) -> Shape:
        self.need_image(x)
        name = ctx.name(self)
        ctx.use(SQUEEZE_EXCITATION, by=self)
        ctx.module(name, Ref("SqueezeExcitation")(x.dims[0], reduction=self.reduction))
        se_row(ctx, name, x, self.reduction, depth=0)
        ctx.forward.start(this(name)(HOLE), x.comment())
        return x

    def entries(self, x: Shape, ctx: Context, prefix: str, start: int, depth: int):
        self.need_image(x)
        ctx.use(SQUEEZE_EXCITATION, by=self)
        se_row(ctx, f"{prefix}.{start}", x, self.reduction, depth)
        return [(Ref("SqueezeExcitation")(x.dims[0], reduction=self.reduction), x)]
