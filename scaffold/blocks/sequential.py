"""`sequential`: layers grouped into one nn.Sequential attribute (torchvision's `features` and
`classifier`). Its entries may be layers of one module, blocks (stage, inverted_residual) whose
blocks become entries of their own, and other groups."""

from __future__ import annotations

from .base import (
    HOLE,
    Context,
    Layer,
    LayerList,
    Shape,
    ShapeError,
    nn,
    spec_field,
    this,
    unit,
)
from .registry import load_units


@unit("sequential", "group")
class Sequential(Layer):
    """Layers grouped into one nn.Sequential attribute (e.g. torchvision's `classifier` or `features`)."""

    SHORTHAND = "layers"
    NAME = "block"
    layers: list = spec_field(LayerList, doc="the layers inside the group")

    def children(self) -> list[Layer]:
        return self.layers

    def plan(self, x: Shape, ctx: Context) -> Shape:
        return wrap_entries(self, x, ctx, "sequential", comments=True)

    def entries(self, x: Shape, ctx: Context, prefix: str, start: int, depth: int):
        module = f"{prefix}.{start}"
        mark = ctx.mark()
        inner = self.inner(x, ctx, module, depth + 1)
        out = inner[-1][1]
        ctx.group(mark, module, "sequential", out, depth)
        # the enclosing group comments this entry with its shape; its own entries need none
        return [(_sequential(inner, comments=False), out)]

    def inner(self, x: Shape, ctx: Context, prefix: str, depth: int) -> list:
        entries: list = []
        for layer in self.layers:
            if layer.entries is None:
                can = [kind for kind, cls in load_units().items() if cls.entries is not None]
                raise ShapeError(
                    layer.location,
                    layer.path,
                    f"{layer.KIND} cannot go inside a sequential group",
                    "these can: " + ", ".join(can),
                )
            ctx.used(layer)
            added = layer.entries(x, ctx, prefix, len(entries), depth)
            entries.extend(added)
            x = added[-1][1]
        return entries


def _sequential(entries: list, comments: bool):
    return nn.Sequential(
        *(e for e, _ in entries),
        multiline=True,
        comments=[shape.comment() for _, shape in entries] if comments else (),
    )


def wrap_entries(layer: Layer, x: Shape, ctx: Context, label: str, comments: bool = False) -> Shape:
    """A block's entries as one attribute, `self.layer1 = nn.Sequential(...)`, with a group row
    `label`; `comments` gives each entry its output shape."""
    name = ctx.name(layer)
    mark = ctx.mark()
    if isinstance(layer, Sequential):
        entries = layer.inner(x, ctx, name, depth=1)
    else:
        entries = layer.entries(x, ctx, name, 0, depth=1)
    out = entries[-1][1]
    ctx.group(mark, name, label, out)
    ctx.module(name, _sequential(entries, comments))
    ctx.forward.start(this(name)(HOLE), out.comment())
    return out
