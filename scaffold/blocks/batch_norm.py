"""`batch_norm`: batch normalisation of image channels or vector features."""

from __future__ import annotations

from .base import Context, Float, Shape, Simple, SimpleLayer, nn, spec_field, unit


@unit("batch_norm", "bn", "batchnorm", "batch_norm2d", "batchnorm2d")
class BatchNorm(SimpleLayer):
    """Batch normalisation over the channels (2-D maps) or features (vectors)."""

    NAME = "bn"
    eps: float = spec_field(Float(above=0), 1e-5, "added to the variance")
    momentum: float = spec_field(Float(min=0, max=1), 0.1, "running statistics momentum")

    def simple(self, x: Shape, ctx: Context, in_sequential: bool) -> Simple:
        if x.kind not in ("image", "vector"):
            raise self.error(f"batch_norm works on images or vectors, not on {x.describe()}")
        cls = nn.BatchNorm2d if x.kind == "image" else nn.BatchNorm1d
        c = x.dims[0]
        args = {}
        if self.eps != 1e-5:
            args["eps"] = self.eps
        if self.momentum != 0.1:
            args["momentum"] = self.momentum
        return Simple(x, cls(c, **args), "batch norm", 2 * c, joins=True)
