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
from .emit import List, Ref, Tuple
from .registry import load_units


@unit("sequential", "group")
class Sequential(Layer):
    """Layers grouped into one nn.Sequential attribute (e.g. torchvision's `classifier` or `features`)."""

    NAMED_ENTRY = True

    SHORTHAND = "layers"
    NAME = "block"
    layers: list = spec_field(LayerList, doc="the layers inside the group")

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
        """The entries, each (code, shape), or (code, shape, name) for a layer with a `name`."""
        entries: list = []
        for layer in self.layers:
            if layer.entries is None:
                can = [kind for kind, cls in load_units().items() if cls.entries is not None]
                raise ShapeError(
                    layer.location,
                    layer.path,
                    f"{layer.KIND} cannot go inside a sequential group",
                    "these can: "
                    + ", ".join(can)
                    + " (and blocks defined in `blocks:`: define one holding it)",
                )
            ctx.used(layer)
            if layer.name and not layer.NAMED_ENTRY:
                raise layer.error(
                    f"{layer.KIND} gives several entries of the group, so it cannot have one name",
                    "remove `name`, or put it in a `sequential` group of its own with the name",
                    key="name",
                )
            if layer.name and any(len(e) == 3 and e[2] == layer.name for e in entries):
                raise layer.error(
                    f"the name '{layer.name}' is already used in this group",
                    "every entry needs its own name",
                    key="name",
                )
            if layer.name:  # torchvision's features.conv0: the entry's key in the group
                added = layer.entries(x, ctx, prefix, layer.name, depth)
                entries.append((added[0][0], added[0][1], layer.name))
            else:
                added = layer.entries(x, ctx, prefix, len(entries), depth)
                entries.extend(added)
            x = added[-1][1]
        return entries


def _sequential(entries: list, comments: bool):
    shapes = [entry[1].comment() for entry in entries] if comments else ()
    if any(len(entry) == 3 for entry in entries):  # named entries: nn.Sequential(OrderedDict)
        pairs = [
            Tuple(entry[2] if len(entry) == 3 else str(i), entry[0])
            for i, entry in enumerate(entries)
        ]
        return nn.Sequential(Ref("OrderedDict")(List(pairs, comments=shapes)))
    return nn.Sequential(*(entry[0] for entry in entries), multiline=True, comments=shapes)


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
    # a defined block's class serves uses of other sizes: no shapes in its comments
    ctx.module(name, _sequential(entries, comments and not ctx.prefix))
    ctx.forward.start(this(name)(HOLE), out.comment())
    return out
