"""`flatten`: everything but the batch dimension into one vector."""

from __future__ import annotations

from .base import HOLE, Context, Shape, Simple, SimpleLayer, nn, torch, unit, vector


@unit("flatten")
class Flatten(SimpleLayer):
    """Flatten everything but the batch dimension."""

    def simple(self, x: Shape, ctx: Context, in_sequential: bool) -> Simple:
        if x.kind == "tokens":
            raise self.error("flatten cannot act on word ids; embed them first")
        out = vector(x.numel)
        if in_sequential:
            return Simple(out, nn.Flatten(), "flatten")
        return Simple(out, None, "flatten", call=torch.flatten(HOLE, 1))
