"""`dropout: p`."""

from __future__ import annotations

from .base import Context, Float, Shape, Simple, SimpleLayer, nn, spec_field, unit


@unit("dropout")
class Dropout(SimpleLayer):
    """Dropout."""

    SHORTHAND = "p"
    NAME = "dropout"
    p: float = spec_field(Float(min=0, max=1), 0.5, "probability of zeroing an element")

    def simple(self, x: Shape, ctx: Context, in_sequential: bool) -> Simple:
        return Simple(x, nn.Dropout(p=self.p), f"dropout {self.p}")
