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
from .compose import _Condition
from .emit import Expr, List, Ref, SymBool, Tuple
from .registry import load_units


class Present(Expr):
    """An entry of a group that exists only where `condition` (of a defined block's arguments)
    holds: torchvision's `if expanded != in_channels: layers.append(...)`. `here`: whether it
    holds in this use."""

    __slots__ = ("code_", "condition", "here")

    def __init__(self, code: Expr, condition: Expr, here: bool) -> None:
        self.code_, self.condition, self.here = code, condition, here

    def code(self) -> str:
        return self.code_.code()

    def lines(self, indent: str = "    ") -> list[str]:
        return self.code_.lines(indent)

    def refs(self):
        yield from self.code_.refs()
        yield from self.condition.refs()


class Built(Expr):
    """`nn.Sequential(*layers)`, the list built entry by entry before it, some entries only where
    their condition holds (`setup` gives those statements)."""

    __slots__ = ("entries",)

    def __init__(self, entries: list[Expr]) -> None:
        self.entries = entries

    def code(self) -> str:
        return "nn.Sequential(*layers)"

    def setup(self, indent: str = "    ") -> list[str]:
        lines: list[str] = []
        run: list[Expr] = []

        def flush() -> None:
            if not run and lines:
                return
            start = "layers: list[nn.Module] = [" if not lines else "layers += ["
            if len(run) == 1 and lines:
                body = run[0].lines(indent)
                body[0] = f"layers.append({body[0]}"
                body[-1] += ")"
                lines.extend(body)
            else:
                lines.append(start + ("]" if not run else ""))
                for entry in run:
                    body = entry.lines(indent)
                    body[-1] += ","
                    lines.extend(indent + line for line in body)
                if run:
                    lines.append("]")
            run.clear()

        for entry in self.entries:
            if isinstance(entry, Present):
                flush()
                lines.append(f"if {entry.condition.code()}:")
                body = entry.lines(indent)
                body[0] = f"layers.append({body[0]}"
                body[-1] += ")"
                lines.extend(indent + line for line in body)
            else:
                run.append(entry)
        flush()
        return lines

    def refs(self):
        yield "nn"
        for entry in self.entries:
            yield from entry.refs()


@unit("sequential", "group")
class Sequential(Layer):
    """Layers grouped into one nn.Sequential attribute (e.g. torchvision's `classifier` or `features`)."""

    NAMED_ENTRY = True

    SHORTHAND = "layers"
    NAME = "block"
    layers: list = spec_field(LayerList, doc="the layers inside the group")
    when: object = spec_field(
        _Condition(),
        None,
        "in a defined block, the group is an entry of the group around it only where this "
        "`$` condition holds (torchvision's `if expanded != in_channels: layers.append(...)`)",
    )

    def plan(self, x: Shape, ctx: Context) -> Shape:
        if self.when is not None:
            raise self.error(
                "`when` leaves a group out of the group around it, and this one is in none",
                "put it inside a `sequential` group (torchvision's `layers.append(...)`)",
                key="when",
            )
        return wrap_entries(self, x, ctx, "sequential", comments=True)

    def entries(self, x: Shape, ctx: Context, prefix: str, start: int, depth: int):
        module = f"{prefix}.{start}"
        mark = ctx.mark()
        inner = self.inner(x, ctx, module, depth + 1)
        if any(isinstance(entry[0], Present) for entry in inner):
            raise self.error(
                "a group with `when` entries must be a block's attribute of its own, not an "
                "entry of another group",
                "give it a `name` inside a `residual` body or at the block's top level",
            )
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
            when = getattr(layer, "when", None)
            if when is not None and not isinstance(when, SymBool) and not when:
                continue  # `when: false`
            index = sum(1 for e in entries if not (isinstance(e[0], Present) and not e[0].here))
            mark = ctx.mark()
            if layer.name:  # torchvision's features.conv0: the entry's key in the group
                added = layer.entries(x, ctx, prefix, layer.name, depth)
                entries.append((added[0][0], added[0][1], layer.name))
            else:
                added = layer.entries(x, ctx, prefix, index, depth)
                entries.extend(added)
            if isinstance(when, SymBool):
                if layer.name:
                    raise layer.error("an entry with `when` cannot have a name", key="name")
                entries[-1] = (Present(added[0][0], when.expr, bool(when)), added[0][1])
                if not when:  # not in this use: its code in the class, nothing in the model
                    del ctx.rows[mark:]
                    if added[-1][1] != x:
                        raise layer.error(
                            f"where `when` does not hold the group is left out, so it must "
                            f"keep its input's shape there, but it turns {x} into {added[-1][1]}",
                            key="when",
                        )
            x = added[-1][1]  # in the class's terms: `in_channels * expansion` either way
        return entries


def _sequential(entries: list, comments: bool):
    if any(isinstance(entry[0], Present) for entry in entries):
        return Built([entry[0] for entry in entries])
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
