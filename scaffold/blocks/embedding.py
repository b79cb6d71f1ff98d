"""`embedding`: word vectors for the question's word ids."""

from __future__ import annotations

from .base import (
    HOLE,
    Channels,
    Context,
    Layer,
    Shape,
    Var,
    nn,
    spec_field,
    this,
    unit,
    words,
)


@unit("embedding")
class Embedding(Layer):
    """Word embedding of the question tokens; the vocabulary size comes from the data."""

    SHORTHAND = "dim"
    NAME = "embedding"
    dim: int = spec_field(Channels, doc="embedding size")

    def plan(self, x: Shape, ctx: Context) -> Shape:
        if x.kind != "tokens":
            raise self.error(
                f"embedding needs word ids (the question input), but gets {x.describe()}"
            )
        out = words(x.dims[0], self.dim)
        name = ctx.name(self)
        ctx.module(name, nn.Embedding(Var("vocab_size"), self.dim, padding_idx=0))
        ctx.row(name, "embedding", out, ctx.vocab_size * self.dim, 0)
        ctx.forward.start(this(name)(HOLE), out.comment())
        return out
