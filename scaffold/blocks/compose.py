"""Composition in the blueprint language: `residual`, `branches` and `repeat`.

Each plans the layers written inside it with the same walk as the model's own list, so shapes,
names, parameters and multiply-adds come from the units themselves; the code it adds is the
few lines that join those layers in forward (`x += identity`, `torch.cat([...], dim=1)`).
Blocks a blueprint defines (`blocks:`) are in scaffold/blocks/defined.py.
"""

from __future__ import annotations

from ..errors import ProblemCollector
from ..source import MapNode, Node, ScalarNode, SeqNode
from ..spec import INVALID, FieldType, Str
from .base import (
    HOLE,
    IDENTIFIER,
    Assign,
    BinOp,
    Context,
    Enum,
    Float,
    Fragment,
    Int,
    Layer,
    LayerList,
    LayerType,
    ListOf,
    Ref,
    Shape,
    ShapeError,
    Var,
    is_symbolic,
    nn,
    read_layer,
    spec_field,
    this,
    torch,
    unit,
)
from .emit import Forward, If, IfElse, Index, Lit, Slice, SymBool

DROP_PATH = Fragment(
    "DropPath",
    '''
class DropPath(nn.Module):
    """Stochastic depth (Huang et al. 2016): in training, each sample's residual branch is dropped
    with probability p and a kept one is scaled by 1 / (1 - p); in evaluation, the identity."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)
        return x * mask.div_(keep)  # the small mask scaled, not x (as torchvision's)
''',
)


def plan_layers(layers: list[Layer], x: Shape, ctx: Context) -> Shape:
    """Plan `layers` in order on `x` (a ShapeError stops the walk)."""
    for layer in layers:
        ctx.used(layer)
        x = layer.plan(x, ctx)
    return x


# Layers whose output is a new tensor that their backward does not read: adding to it in place is
# safe for autograd (batch and layer norm keep their input and statistics, not their output).
_NEW_TENSOR = {"conv", "linear", "batch_norm", "layer_norm", "group_norm"}


def makes_new_tensor(layers: list[Layer]) -> bool:
    """Whether the output of `layers` is a new tensor that no backward reads (see
    Residual._adds_in_place): the last layer's kind decides, looking into groups, repeats,
    residuals and defined blocks (their layers as planned at this use)."""
    if not layers:
        return False
    last = layers[-1]
    if getattr(last, "when", None) is not None and last.KIND == "sequential":
        return False  # a group that may be left out: the output may be the layer before it
    if last.KIND == "sequential":
        return makes_new_tensor(last.layers)
    if last.KIND == "repeat":
        return makes_new_tensor([last.layer])
    if last.KIND == "residual":
        return makes_new_tensor(last.body)  # added: a new sum; else the body's own output
    if last.KIND == "branches":
        return True  # torch.cat, a sum or a product: a new tensor, and none reads its output
    planned = getattr(last, "planned_layers", None)
    if planned is not None:  # a defined block
        return makes_new_tensor(planned)
    return last.KIND in _NEW_TENSOR


def _channel_dim(x: Shape) -> int:
    """The dimension of a shape that holds its channels or features (image: C; others: last)."""
    return 0 if x.kind in ("image", "vector") else len(x.dims) - 1


class _Condition(FieldType):
    """true, false, or (in a defined block) a `$` condition on its arguments."""

    def read(self, node: Node, path: str, problems: ProblemCollector):
        value = node.value if isinstance(node, ScalarNode) else None
        if isinstance(value, (bool, SymBool)):
            return value
        if isinstance(value, str) and value.startswith("$"):
            problems.add(
                node.location, path, "a `$` condition only works inside a block's definition"
            )
            return INVALID
        return self._wrong(node, path, problems)

    def schema(self) -> dict:
        return {"anyOf": [{"type": "boolean"}, {"type": "string", "pattern": "^\\$"}]}

    def describe(self) -> str:
        return "true, false or a `$` condition"


@unit("residual")
class Residual(Layer):
    """A residual connection: the body's output added to the input (through `shortcut`, a
    projection, when given), optionally scaled per channel (`layer_scale`) and dropped per sample
    in training (`drop_path`)."""

    SHORTHAND = "body"
    NAME = "residual"
    FRAGMENTS = (DROP_PATH,)
    body: list = spec_field(LayerList, doc="the layers whose output is added to the input")
    shortcut: list | None = spec_field(
        LayerList, None, "layers the input goes through before the addition (a projection)"
    )
    drop_path: float = spec_field(
        Float(min=0, max=0.99),
        0.0,
        "stochastic depth: the probability of dropping the body for a sample, in training",
    )
    layer_scale: float | None = spec_field(
        Float(above=0),
        None,
        "a learned per-channel scale of the body's output, starting at this value (e.g. 1e-6)",
    )
    when: object = spec_field(
        _Condition(),
        None,
        "when the shortcut is used (in a defined block: `$stride != 1 or in_channels != out`, "
        "torchvision's downsample); else the input is added as it is",
    )
    connect: object = spec_field(
        _Condition(),
        None,
        "whether the input is added at all (default true; in a defined block, e.g. "
        "`$stride == 1 and in_channels == out`: MobileNet's and EfficientNet's blocks add it only "
        "where the shape stays)",
    )

    def children(self) -> list[Layer]:
        return [*self.body, *(self.shortcut or [])]

    def extra_names(self) -> tuple[str, ...]:
        drop_path = self.drop_path or is_symbolic(self.drop_path)
        return ("layer_scale",) * (self.layer_scale is not None) + ("drop_path",) * bool(drop_path)

    def plan(self, x: Shape, ctx: Context) -> Shape:
        forward = ctx.forward
        forward.flush()
        identity = ctx.var("identity")
        source, at = forward.current, len(forward.statements)
        mark = ctx.mark()
        ctx.depth += 1
        connect = True if self.connect is None else self.connect
        if not connect and not isinstance(connect, SymBool):  # `connect: false`: the body only
            return self._body_only(x, ctx, mark)
        try:
            out = plan_layers(self.body, x, ctx)
            forward.flush()
            added = x
            when = True if self.when is None else self.when
            if self.shortcut and isinstance(when, SymBool):
                added = self._optional_shortcut(x, ctx, identity, source, at, when)
            elif self.shortcut and when:  # identity = self.downsample(x), before the body
                shortcut: list[Assign] = []
                ctx.forward = Forward(shortcut, identity, "x")
                ctx.forward.current = source
                try:
                    added = plan_layers(self.shortcut, x, ctx)
                    ctx.forward.flush()
                finally:
                    ctx.forward = forward
                forward.statements[at:at] = shortcut
            elif connect or isinstance(connect, SymBool):  # identity = x, before the body
                forward.statements.insert(at, Assign(identity, source))
            if connect and out != added:
                where = "the shortcut gives" if self.shortcut else "the input is"
                raise self.error(
                    f"the body gives {out} but {where} {added}: they cannot be added",
                    (
                        "give the body the input's shape, or add a `shortcut` that projects the input"
                        if not self.shortcut
                        else "make the shortcut's output the body's shape"
                    ),
                )
            step = HOLE
            if self.layer_scale is not None:
                name = ctx.name(None, "layer_scale")
                channels = out.dims[_channel_dim(out)]
                size = (channels, 1, 1) if out.kind == "image" else (channels,)
                ctx.module(name, nn.Parameter(torch.full(size, self.layer_scale)))
                ctx.row(name, "layer scale", out, channels)
                step = BinOp(this(name), "*", step)
            if self.drop_path or is_symbolic(self.drop_path):
                name = ctx.name(None, "drop_path")
                ctx.use(DROP_PATH, by=self)
                ctx.module(name, Ref("DropPath")(self.drop_path), params=False)
                step = this(name)(step)
        finally:
            ctx.depth -= 1
        projected = self.shortcut and (True if self.when is None else bool(self.when))
        label = "residual" + (" (projected)" if projected else "")
        if not connect:
            label += " (not added)"
        ctx.group(mark, "", label, out)
        merged = BinOp(step, "+", Var(identity))
        in_place = self._adds_in_place(forward, at)
        if isinstance(connect, SymBool):
            name = ctx.fixed_name("use_residual")
            ctx.module(name, connect.expr, params=False)
            if in_place:  # if self.use_residual: x = self.drop_path(x); x += identity
                forward.flush()
                added: list = []
                inner = Forward(added, forward.var, forward.var)
                if step is not HOLE:
                    inner.start(step, "")
                inner.add_in_place(Var(identity), "")
                forward.statement(If(this(name), added))
                return out
            merged = IfElse(merged, this(name), HOLE)  # x = x + identity if ... else x
        elif in_place:  # x = self.drop_path(x); x += identity
            if step is not HOLE:
                forward.start(step, out.comment())
            forward.add_in_place(Var(identity), out.comment())
            return out
        forward.start(merged, out.comment(), joinable=True)
        return out

    def _adds_in_place(self, forward: Forward, at: int) -> bool:
        """Whether the merge can add to the body's output in place, as torchvision's blocks do
        (`out += identity`, faster than a new tensor): where that output is a tensor the body
        made, which autograd does not keep for the backward pass, so that the in-place addition
        changes neither the block's input nor a gradient. True after a layer scale (a new
        product), or after a body that ends in a convolution, a linear layer or a norm, also
        inside groups and blocks; never for an empty body, one that ends in the input or a view
        of it (dropout in evaluation returns its input), or one that ends in an activation
        whose backward reads its output (ReLU, sigmoid)."""
        body_wrote = any(s.targets == (forward.var,) for s in forward.statements[at:])
        if not body_wrote or forward.current != Var(forward.var):
            return False
        return self.layer_scale is not None or makes_new_tensor(self.body)

    def _body_only(self, x: Shape, ctx: Context, mark: int) -> Shape:
        ctx.depth += 1
        try:
            out = plan_layers(self.body, x, ctx)
        finally:
            ctx.depth -= 1
        ctx.group(mark, "", "residual (not added)", out)
        return out

    def _optional_shortcut(self, x, ctx, identity, source, at, when) -> Shape:
        """The shortcut as one attribute that exists only when `when` holds, as torchvision's
        `downsample`: `identity = x if self.downsample is None else self.downsample(x)`; a
        shortcut that is one named `sequential` takes its name (RegNet's `proj`)."""
        from .sequential import Sequential

        layers = self.shortcut
        if len(layers) == 1 and isinstance(layers[0], Sequential) and layers[0].name:
            ctx.used(layers[0])
            name, layers = ctx.name(layers[0]), layers[0].layers
        else:
            name = ctx.fixed_name("downsample")
        mark = ctx.mark()
        entries = []
        shape = x
        for layer in layers:
            if layer.entries is None:
                raise self.error(
                    f"a shortcut with a `$` condition is one nn.Sequential: {layer.KIND} cannot "
                    "be part of it",
                    key="shortcut",
                )
            ctx.used(layer)
            added = layer.entries(shape, ctx, name, len(entries), 1)
            entries.extend(added)
            shape = added[-1][1]
        if when:
            ctx.group(mark, name, "shortcut", shape)
        else:  # not in this use: no rows, and the input is added as it is
            del ctx.rows[mark:]
            shape = x
        module = nn.Sequential(*(e[0] for e in entries), multiline=len(entries) > 1)
        ctx.module(name, IfElse(module, when.expr, None), params=bool(when))
        value = IfElse(source, BinOp(this(name), "is", None), this(name)(source))
        ctx.forward.statements.insert(at, Assign(identity, value))
        return shape


@unit("branches", "parallel")
class Branches(Layer):
    """Parallel paths on the same input, merged by concatenating their channels (`concat`),
    adding (`add`) or multiplying (`mul`, broadcasting: a gate); an empty path is the input."""

    SHORTHAND = "paths"
    NAME = "branches"
    paths: list = spec_field(
        ListOf(ListOf(LayerType()), min_items=2), doc="the paths, each a list of layers"
    )
    merge: str = spec_field(
        Enum("concat", "add", "mul"), "concat", "concat (channels), add or mul (broadcasting)"
    )
    along: str = spec_field(
        Enum("channels", "height", "width"), "channels", "concat: the image dimension joined"
    )

    def children(self) -> list[Layer]:
        return [layer for path in self.paths for layer in path]

    def plan(self, x: Shape, ctx: Context) -> Shape:
        forward = ctx.forward
        forward.flush()
        source = forward.current
        mark = ctx.mark()
        results, shapes = [], []
        ctx.depth += 1
        try:
            for path in self.paths:
                if not path:
                    results.append(source)
                    shapes.append(x)
                    continue
                var = ctx.var("branch")
                ctx.forward = Forward(forward.statements, var, "")
                ctx.forward.current = source
                start = len(forward.statements)
                shapes.append(plan_layers(path, x, ctx))
                ctx.forward.flush()
                added = forward.statements[start:]
                if len(added) == 1 and added[0].targets == (var,):
                    results.append(added[0].value)  # one line: written inside the merge
                    del forward.statements[start:]
                    ctx.release("branch")
                else:
                    results.append(Var(var))
        finally:
            ctx.forward = forward
            ctx.depth -= 1
        self._broadcast(results, shapes)
        out = self._merged(shapes)
        ctx.group(mark, "", f"branches ({self.merge})", out)
        if self.merge == "concat":
            merged = torch.cat(Lit(results), dim=1 + self._axis(out))
        else:
            merged = results[0]
            for result in results[1:]:
                merged = BinOp(merged, "+" if self.merge == "add" else "*", result)
        forward.start(merged, out.comment(), joinable=True)
        return out

    def _broadcast(self, results: list, shapes: list[Shape]) -> None:
        """A path that gives one value per channel of an image (a vector, squeeze-excitation's
        gate) added to or multiplied with the image's paths: `x * s[:, :, None, None]`."""
        images = [s for s in shapes if s.kind == "image"]
        if self.merge == "concat" or not images:
            return
        channels = images[0].dims[0]
        for i, shape in enumerate(shapes):
            if shape.kind == "vector" and shape.dims[0] in (channels, 1):
                results[i] = Index(results[i], Slice(), Slice(), None, None)
                shapes[i] = Shape("image", (shape.dims[0], 1, 1))

    def _axis(self, x: Shape) -> int:
        if self.along == "channels":
            return _channel_dim(x)
        if x.kind != "image":
            raise self.error(f"along: {self.along} needs images, not {x.describe()}", key="along")
        return 1 if self.along == "height" else 2

    def _merged(self, shapes: list[Shape]) -> Shape:
        described = ", ".join(str(s) for s in shapes)
        kinds = {s.kind for s in shapes}
        if len(kinds) > 1:
            raise self.error(f"the paths give different kinds of output ({described})")
        first = shapes[0]
        if self.merge == "concat":
            axis = self._axis(first)
            rest = [s.dims[:axis] + s.dims[axis + 1 :] for s in shapes]
            if any(r != rest[0] for r in rest):
                raise self.error(
                    f"concat joins the paths along {self.along}, so their other sizes must agree: "
                    f"{described}",
                    "give every path the same stride and padding",
                )
            total = sum(s.dims[axis] for s in shapes)
            return Shape(first.kind, first.dims[:axis] + (total,) + first.dims[axis + 1 :])
        dims = list(first.dims)
        for shape in shapes[1:]:
            if len(shape.dims) != len(dims):
                raise self.error(f"the paths' outputs cannot be combined: {described}")
            for i, d in enumerate(shape.dims):
                if d != dims[i] and 1 not in (d, dims[i]):
                    raise self.error(
                        f"{self.merge} needs the paths' outputs to be the same shape (or 1 where "
                        f"they differ, to broadcast), but they are {described}"
                    )
                dims[i] = max(d, dims[i])
        return Shape(first.kind, tuple(dims))


def _parts(problem):
    return problem.location, problem.field, problem.message, problem.hint


class _Kept(LayerType):
    """A layer, remembering the node it was read from (a repeat re-reads it with `first`)."""

    def read(self, node: Node, path: str, problems: ProblemCollector):
        layer = super().read(node, path, problems)
        if layer is not INVALID:
            layer._node = node
        return layer


class _Arguments(FieldType):
    """A mapping of a layer's arguments, kept as written (checked when they are used)."""

    def read(self, node: Node, path: str, problems: ProblemCollector):
        if not isinstance(node, MapNode) or not node.entries:
            return self._wrong(node, path, problems)
        return node

    def schema(self) -> dict:
        return {"type": "object", "minProperties": 1}

    def describe(self) -> str:
        return "a mapping of arguments, e.g. {stride: 2}"


_NAMES = Str(
    pattern=IDENTIFIER + r"|[A-Za-z0-9_-]*\{i\}[A-Za-z0-9_-]*",
    max_length=60,
    what="a Python identifier, or a name with `{i}` (letters, digits, _ and -)",
)


class _PerRepeat(FieldType):
    """A mapping of a layer's arguments to lists of values, one per repeat (checked when used)."""

    def read(self, node: Node, path: str, problems: ProblemCollector):
        if not isinstance(node, MapNode) or not node.entries:
            return self._wrong(node, path, problems)
        for key, value in node.entries.items():
            if not isinstance(value, SeqNode) or not value.items:
                problems.add(
                    value.location, f"{path}.{key}", "expected a list, one value per repeat"
                )
                return INVALID
        return node

    def schema(self) -> dict:
        return {"type": "object", "minProperties": 1, "additionalProperties": {"type": "array"}}

    def describe(self) -> str:
        return "a mapping of arguments to lists, one value per repeat, e.g. {drop_path: [0, 0.1]}"


@unit("repeat")
class Repeat(Layer):
    """A layer (usually a defined block) repeated `times` times in one nn.Sequential attribute, the
    first repeat with the arguments of `first` changed (a stride, a projection), as torchvision's
    `_make_layer`."""

    NAME = "layer"
    times: int = spec_field(Int(min=1, max=1000), doc="how many times")
    layer: Layer = spec_field(_Kept(), doc="the layer repeated, e.g. `basic: {out: 64}`")
    first: MapNode | None = spec_field(
        _Arguments(), None, "arguments that differ in the first repeat, e.g. {stride: 2}"
    )
    names: str | None = spec_field(
        _NAMES,
        None,
        "the repeats' keys: NAME1, NAME2, ... (DenseNet's denselayer1), or `{i}` in the name "
        "replaced by 0, 1, ... (`block1-{i}`: RegNet's block1-0), else 0, 1, ...",
    )
    each: MapNode | None = spec_field(
        _PerRepeat(),
        None,
        "arguments with one value per repeat, e.g. {drop_path: [0.0, 0.05, 0.1]} (stochastic "
        "depth growing with the block's position)",
    )

    def plan(self, x: Shape, ctx: Context) -> Shape:
        from .sequential import wrap_entries

        return wrap_entries(self, x, ctx, f"{self.layer.KIND} x{self.times}")

    def entries(self, x: Shape, ctx: Context, prefix: str, start: int, depth: int):
        if self.layer.entries is None:
            raise self.error(f"{self.layer.KIND} cannot be repeated in a group", key="layer")
        if self.names and not self.layer.NAMED_ENTRY:
            raise self.error(
                f"{self.layer.KIND} gives several entries, so its repeats cannot have names",
                key="names",
            )
        if self.each is not None:
            for key, values in self.each.entries.items():
                if len(values.items) != self.times:
                    raise ShapeError(
                        values.location,
                        f"{self.path}.each.{key}",
                        f"has {len(values.items)} values for {self.times} repeats",
                        f"give one value per repeat ({self.times})",
                    )
        first = self.layer
        if self.first is not None:
            first = self._with(self.first, 0)
        entries = []
        for i in range(self.times):
            layer = first if i == 0 else self.layer
            if self.each is not None:
                layer = self._with(self.first if i == 0 else None, i)
            ctx.used(layer)
            if self.names:
                key = (
                    self.names.replace("{i}", str(i))
                    if "{i}" in self.names
                    else f"{self.names}{i + 1}"
                )
                added = layer.entries(x, ctx, prefix, key, depth)
                entries.append((added[0][0], added[0][1], key))
            else:
                added = layer.entries(x, ctx, prefix, start + len(entries), depth)
                entries.extend(added)
            x = added[-1][1]
        return entries

    def _with(self, first: MapNode | None, index: int) -> Layer:
        """The layer of repeat `index`: its own arguments with those of `first` (when given) and
        the index's values of `each` in their place, read and checked."""
        node: Node = self.layer._node  # type: ignore[attr-defined]
        if isinstance(node, ScalarNode):
            word, args = node.value, None
        else:
            word, args = next(iter(node.entries.items()))
        if not isinstance(args, MapNode):
            shorthand = type(self.layer).SHORTHAND
            given = args is not None and not (isinstance(args, ScalarNode) and args.value is None)
            args = MapNode(node.location, {shorthand: args} if given and shorthand else {})
        entries, locations = {**args.entries}, {**args.key_locations}
        if first is not None:
            entries.update(first.entries)
            locations.update(first.key_locations)
        if self.each is not None:
            for key, values in self.each.entries.items():
                entries[key] = values.items[index]
                locations[key] = self.each.key_locations.get(key, values.location)
        merged = MapNode(args.location, entries, locations)
        problems = ProblemCollector()
        path = f"{self.path}.first" if self.each is None else f"{self.path}.each[{index}]"
        layer = read_layer(MapNode(node.location, {word: merged}), path, problems)
        if problems.problems:
            raise ShapeError(*_parts(problems.problems[0]))
        return layer


__all__ = ["Branches", "Repeat", "Residual", "ShapeError", "plan_layers"]
