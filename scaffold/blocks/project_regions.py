"""`project_regions`: every position of a feature map as an image region vector (SAN)."""

from __future__ import annotations

from .base import (
    HOLE,
    Channels,
    Context,
    Enum,
    F,
    Layer,
    Shape,
    nn,
    sequence,
    spec_field,
    this,
    torch,
    unit,
)


@unit("project_regions", "regions")
class ProjectRegions(Layer):
    """Treat every position of a C x H x W map as a region and project it: tanh(W f + b), giving H*W x out."""

    SHORTHAND = "out"
    NAME = "image_proj"
    out: int = spec_field(
        Channels, doc="size d of each region vector (must equal the question vector)"
    )
    activation: str = spec_field(
        Enum("tanh", "relu", "none"), "tanh", "non-linearity after the projection"
    )

    def plan(self, x: Shape, ctx: Context) -> Shape:
        self.need_image(x, "project_regions")
        c, h, w = x.dims
        out = sequence(h * w, self.out)
        name = ctx.name(self)
        ctx.module(name, nn.Linear(c, self.out))
        ctx.row(
            name,
            f"regions {h}x{h if h == w else w} -> linear",
            out,
            c * self.out + self.out,
            h * w * c * self.out,
        )
        step = this(name)(HOLE.attr("flatten")(2).attr("transpose")(1, 2))
        if self.activation != "none":
            step = {"tanh": torch.tanh, "relu": F.relu}[self.activation](step)
            ctx.row("", self.activation, out)
        ctx.forward.start(step, out.comment())
        return out
