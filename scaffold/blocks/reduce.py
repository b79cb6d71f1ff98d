"""`reduce`: the mean, maximum or sum over image dimensions, kept as size 1 (CBAM's descriptors),
or over height and width into one vector per image (squeeze-excitation's channel means)."""

from __future__ import annotations

from .base import (
    HOLE,
    Bool,
    Context,
    Enum,
    ListOf,
    OneOf,
    Shape,
    Simple,
    SimpleLayer,
    image,
    spec_field,
    unit,
    vector,
)

AXES = ("channels", "height", "width")


@unit("reduce")
class Reduce(SimpleLayer):
    """The mean, maximum or sum of an image over some of its dimensions, each kept with size 1:
    `reduce: {op: max, over: channels}` gives 1 x H x W; `keepdim: false` over height and width
    gives the vector of C values (`x.mean(dim=(2, 3))`, (N, C))."""

    SHORTHAND = "op"
    op: str = spec_field(Enum("mean", "max", "sum"), doc="mean, max or sum")
    over: object = spec_field(
        OneOf(Enum(*AXES), ListOf(Enum(*AXES), min_items=1), what="a dimension or a list of them"),
        ["height", "width"],
        "the dimensions reduced: channels, height, width (default: height and width)",
    )
    keepdim: bool = spec_field(
        Bool(),
        True,
        "keep the reduced dimensions with size 1 (false: over height and width, a vector of the "
        "channels)",
    )

    def simple(self, x: Shape, ctx: Context, in_sequential: bool) -> Simple:
        self.need_image(x)
        over = [self.over] if isinstance(self.over, str) else list(self.over)
        axes = sorted({AXES.index(a) for a in over})
        dims = [1 if i in axes else d for i, d in enumerate(x.dims)]
        out = image(*dims)
        if not self.keepdim:
            if axes != [1, 2]:
                raise self.error(
                    f"keepdim: false reduces over height and width, not over {', '.join(over)}",
                    "reduce over [height, width], or keep the dimensions",
                    key="keepdim",
                )
            out = vector(x.dims[0])
        if in_sequential:
            raise self.error(
                "reduce is a call in forward, not a module: it cannot go inside a sequential group"
            )
        dim = axes[0] + 1 if len(axes) == 1 else tuple(a + 1 for a in axes)
        method = {"mean": "mean", "max": "amax", "sum": "sum"}[self.op]
        call = HOLE.attr(method)(dim=dim, **({"keepdim": True} if self.keepdim else {}))
        where = f"{self.op} over {', '.join(over)}"
        return Simple(out, None, where if self.keepdim else f"{where} to a vector", call=call)
