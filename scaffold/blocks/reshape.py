"""`permute` (an image to channels last and back), `channel_shuffle` and `chunk` (ShuffleNet)."""

from __future__ import annotations

from ..shapes import channels_last
from .base import (
    HOLE,
    Context,
    Fragment,
    Int,
    ListOf,
    Ref,
    Shape,
    Simple,
    SimpleLayer,
    image,
    spec_field,
    unit,
)

PERMUTE = Fragment(
    "Permute",
    '''
class Permute(nn.Module):
    """x.permute(*dims) as a module, for an nn.Sequential."""

    def __init__(self, dims: list[int]) -> None:
        super().__init__()
        self.dims = dims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(*self.dims)
''',
)

CHANNEL_SHUFFLE = Fragment(
    "channel_shuffle",
    '''
def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """ShuffleNet's channel shuffle (Zhang et al. 2018): of k = c // groups channels per group,
    channel g * k + i goes to i * groups + g."""
    n, c, h, w = x.shape
    x = x.view(n, groups, c // groups, h, w).transpose(1, 2).contiguous()
    return x.view(n, c, h, w)
''',
    uses=("torch",),
)

TO_LAST, TO_FIRST = [0, 2, 3, 1], [0, 3, 1, 2]


@unit("permute")
class Permute(SimpleLayer):
    """Reorder the dimensions, batch first as torch writes them: [0, 2, 3, 1] makes an image
    channels-last (for layer_norm and linear layers on each position), [0, 3, 1, 2] turns it back.
    """

    SHORTHAND = "dims"
    FRAGMENTS = (PERMUTE,)
    dims: list = spec_field(
        ListOf(Int(min=0, max=3), min_items=4, max_items=4), doc="[0, 2, 3, 1] or [0, 3, 1, 2]"
    )

    def simple(self, x: Shape, ctx: Context, in_sequential: bool) -> Simple:
        if self.dims == TO_LAST and x.kind == "image":
            out = channels_last(x.dims[1], x.dims[2], x.dims[0])
        elif self.dims == TO_FIRST and x.kind == "channels_last":
            out = image(x.dims[2], x.dims[0], x.dims[1])
        else:
            raise self.error(
                f"permute {self.dims} does not apply to {x.describe()}",
                "use [0, 2, 3, 1] on an image (channels last) and [0, 3, 1, 2] to turn it back",
                key="dims",
            )
        if in_sequential:
            ctx.use(PERMUTE, by=self)
            return Simple(out, Ref("Permute")(list(self.dims)), "permute")
        return Simple(out, None, "permute", call=HOLE.attr("permute")(*self.dims))


@unit("channel_shuffle")
class ChannelShuffle(SimpleLayer):
    """ShuffleNet's channel shuffle: the channels of `groups` groups interleaved."""

    SHORTHAND = "groups"
    NAME = "shuffle"
    FRAGMENTS = (CHANNEL_SHUFFLE,)
    groups: int = spec_field(Int(min=1, max=65_536), 2, "number of groups")

    def simple(self, x: Shape, ctx: Context, in_sequential: bool) -> Simple:
        self.need_image(x)
        if x.dims[0] % self.groups:
            raise self.error(
                f"{x.dims[0]} channels do not divide into {self.groups} groups", key="groups"
            )
        if in_sequential:
            from .emit import nn

            return Simple(x, nn.ChannelShuffle(self.groups), "channel shuffle")
        ctx.use(CHANNEL_SHUFFLE, by=self)
        return Simple(x, None, "channel shuffle", call=Ref("channel_shuffle")(HOLE, self.groups))


@unit("chunk")
class Chunk(SimpleLayer):
    """One of `chunks` equal parts of the channels, `x.chunk(chunks, dim=1)[index]` (ShuffleNetV2's
    split: one path takes index 0, the other index 1)."""

    chunks: int = spec_field(Int(min=2, max=65_536), 2, "number of equal parts")
    index: int = spec_field(Int(min=0, max=65_535), doc="which part, from 0")

    def simple(self, x: Shape, ctx: Context, in_sequential: bool) -> Simple:
        self.need_image(x)
        c = x.dims[0]
        if c % self.chunks:
            raise self.error(f"{c} channels do not divide into {self.chunks} parts", key="chunks")
        if self.index >= self.chunks:
            raise self.error(f"index {self.index} of {self.chunks} parts", key="index")
        if in_sequential:
            raise self.error("chunk is a call in forward: it cannot go inside a sequential group")
        call = HOLE.attr("chunk")(self.chunks, dim=1)[self.index]
        return Simple(image(c // self.chunks, *x.dims[1:]), None, "chunk", call=call)
