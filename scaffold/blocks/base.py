"""What a unit is made of, and what it may ask of the walk. A unit file imports from here only.

A unit is one block kind, in one module: a `Layer` subclass registered with `@unit("kind")` (and
listed in the table of registry.py, which imports the module when a blueprint first uses the kind),
whose fields (declared with `spec_field`) are both what a blueprint may write and the JSON
Schema; its `plan(x, ctx)` checks the input shape, returns the output shape, and records through
`ctx` the modules, the rows of `scaffold inspect` (parameters and multiply-adds) and the forward
steps, as typed code (see `emit`). A helper class the block needs is a `Fragment` beside it.

A block that can also be an entry of an `nn.Sequential` (a `sequential` group) implements
`entries(x, ctx, prefix, start, depth)` as well.

Multiply-adds count what `torch.utils.flop_counter` counts, halved: convolutions, linear layers,
matrix products and the LSTM's gate products; not batch norm, activations, pooling or additions.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from typing import Any, ClassVar, NamedTuple

from ..errors import Location, Problem, ProblemCollector
from ..names import derived_name_problem, module_name_problem
from ..shapes import Shape, conv_out, image, sequence, tokens, vector, words
from ..source import MapNode, Node, ScalarNode
from ..spec import (
    INVALID,
    Bool,
    Enum,
    FieldType,
    Float,
    Int,
    ListOf,
    OneOf,
    Pair,
    Section,
    Str,
    read_tagged,
    section,
    spec_field,
)
from .emit import (
    HOLE,
    SELF,
    Assign,
    Attr,
    BinOp,
    Call,
    Constant,
    Expr,
    F,
    Forward,
    Fragment,
    Index,
    Lit,
    Ref,
    Slice,
    Var,
    is_symbolic,
    math,
    nn,
    pair,
    this,
    torch,
)
from .registry import REGISTRY, UnitError  # @unit registers there; UnitError for the units

__all__ = [
    # declaring a unit
    "Layer",
    "unit",
    "section",
    "spec_field",
    "Bool",
    "Enum",
    "Float",
    "Int",
    "ListOf",
    "OneOf",
    "Pair",
    "Str",
    "Name",
    "Size",
    "Channels",
    "LayerList",
    # shapes
    "Shape",
    "image",
    "vector",
    "sequence",
    "words",
    "tokens",
    "conv_out",
    "ShapeError",
    "is_symbolic",
    # code
    "Fragment",
    "Expr",
    "Ref",
    "Var",
    "Lit",
    "Call",
    "Attr",
    "Index",
    "Slice",
    "BinOp",
    "Assign",
    "HOLE",
    "SELF",
    "this",
    "pair",
    "nn",
    "F",
    "torch",
    "math",
    # the walk
    "Context",
    "Simple",
    "SimpleLayer",
    "Row",
    "PretrainedLoad",
    "AuxiliaryHead",
]

IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]*"
Name = Str(
    pattern=IDENTIFIER,
    max_length=60,
    what="a Python identifier of ASCII letters, digits and _, not starting with a digit",
)
Size = Int(min=1, max=1_000_000)
Channels = Int(min=1, max=65_536)


def _problem_parts(problem: Problem) -> tuple:
    return problem.location, problem.field, problem.message, problem.hint


class ShapeError(Exception):
    """A problem found while planning a layer; the walk reports it with its position."""

    def __init__(self, location: Location | None, field: str, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.problem = Problem(location, field, message, hint)


# --- layers -----------------------------------------------------------------------------------


@section
class Layer(Section):
    """Base of every block kind. Class attributes: KIND (the word in blueprints, set by @unit),
    SHORTHAND (the field a single value fills in: `- linear: 120`), NAME (the base of the
    generated attribute names: conv1, conv2) and FRAGMENTS (the helpers it may use, in the order
    model.py prints them)."""

    KIND: ClassVar[str] = ""
    SHORTHAND: ClassVar[str | None] = None
    NAME: ClassVar[str] = ""
    FRAGMENTS: ClassVar[tuple[Fragment, ...]] = ()
    name: str | None = spec_field(Name, None, "module name in the generated model")

    def plan(self, x: Shape, ctx: Context) -> Shape:
        """Check the input shape `x`, record modules, rows and forward steps, return the output."""
        raise NotImplementedError(f"{type(self).__name__}.plan")

    # entries(x, ctx, prefix, start, depth) -> list[(Expr, Shape)]: the block as entries of an
    # nn.Sequential (attribute `prefix`, the first at index `start`), rows at `depth`. Optional.
    entries = None
    NAMED_ENTRY: ClassVar[bool] = False  # its entries are one, which a `name` may key in a group

    def children(self) -> list[Layer]:
        """The layers written inside this one that become attributes of the same class (a
        residual's body, branches' paths), for naming; a group's are keyed in the group."""
        return []

    def extra_names(self) -> tuple[str, ...]:
        """The bases of the other attributes it adds to the class (a residual's `drop_path`), for
        naming: one is `drop_path`, several are `drop_path1`, `drop_path2`."""
        return ()

    # helpers for plan()
    def error(
        self, message: str, hint: str = "", key: str | None = None, at_key: bool = False
    ) -> ShapeError:
        """A problem with this layer, to raise; `key` names the field at fault (the message points
        at the layer, or with `at_key` at the key itself)."""
        field = f"{self.path}.{key}" if key else self.path
        where = self.key_locations.get(key, self.location) if key and at_key else self.location
        return ShapeError(where, field, message, hint)

    def need_image(self, x: Shape, what: str = "") -> None:
        if x.kind != "image":
            hint = "move this layer before `flatten`, or remove it" if x.kind == "vector" else ""
            raise self.error(
                f"{what or self.KIND} needs a C x H x W image input but gets {x.describe()}", hint
            )


def unit(kind: str, *aliases: str):
    """Register a Layer subclass as the block kind `kind`, with other words for it (a
    decorator), as registry.py's table lists it; it declares the class's fields (see
    spec.section)."""

    def register(cls: type[Layer]) -> type[Layer]:
        where = _file(cls)
        if "__dataclass_fields__" in cls.__dict__:
            raise UnitError(
                f"{where}: {cls.__name__}: @unit declares the fields (spec_field); "
                "remove @dataclass"
            )
        if "plan" not in _defined(cls):
            raise UnitError(f"{where}: {cls.__name__} has no plan()")
        if "__section_fields__" not in cls.__dict__:
            section(cls)
        cls.KIND = kind
        cls.NAME = cls.__dict__.get("NAME") or cls.NAME or kind
        REGISTRY.register(kind, aliases, cls, where)
        return cls

    return register


def _file(cls: type) -> str:
    """The file a class is defined in, for messages (its module has a name of the engine's)."""
    module = sys.modules.get(cls.__module__)
    return getattr(module, "__file__", None) or cls.__module__


def _defined(cls: type) -> set[str]:
    names: set[str] = set()
    for base in cls.__mro__:
        if base is Layer:
            break
        names.update(vars(base))
    return names


class LayerType(FieldType):
    """One entry of a layer list."""

    def read(self, node: Node, path: str, problems: ProblemCollector) -> Any:
        return read_layer(node, path, problems)

    def schema(self) -> dict[str, Any]:
        return {"$ref": "#/$defs/layer"}

    def describe(self) -> str:
        return "a layer"


LayerList = ListOf(LayerType(), min_items=1)


# The blocks a blueprint defines (its `blocks:` section) while it is read: kind -> Layer class.
DEFINED: ContextVar[Mapping[str, type[Layer]] | None] = ContextVar("DEFINED", default=None)
# while a defined block's layers are read: its nodes' layers, by id (a node whose `$` values are
# the same at two uses is one object, read once: scaffold/blocks/defined.py)
READ_CACHE: ContextVar[dict | None] = ContextVar("READ_CACHE", default=None)


class _Kinds(Mapping):
    """The blueprint's own blocks first, then the units."""

    def __init__(self, defined: Mapping[str, type[Layer]], units: Mapping[str, type[Layer]]):
        self.defined, self.units = defined, units

    def __contains__(self, kind: object) -> bool:
        return kind in self.defined or kind in self.units

    def __getitem__(self, kind: str) -> type[Layer]:
        return self.defined[kind] if kind in self.defined else self.units[kind]

    def __iter__(self) -> Iterator[str]:
        yield from self.defined
        yield from (kind for kind in self.units if kind not in self.defined)

    def __len__(self) -> int:
        return len(list(iter(self)))


def _word(node: Node) -> object:
    """The kind a layer is written with: `- relu`, `- linear: 120`, `- conv: {out: 64}`."""
    if isinstance(node, ScalarNode):
        return node.value
    if isinstance(node, MapNode) and len(node.entries) == 1:
        return next(iter(node.entries))
    return None


def read_layer(node: Node, path: str, problems: ProblemCollector) -> Any:
    defined = DEFINED.get()
    cache = READ_CACHE.get()
    if cache is not None:  # a defined block's layers: a node read at an earlier use, as it was
        hit = cache.get(id(node))
        if hit is not None and hit[0] is node and hit[1] is defined:
            return hit[2]
    refused = getattr(defined, "refused", None)
    if refused and _word(node) in refused:  # its definition's problem is reported already
        return INVALID
    before = len(problems.problems)
    kinds = _Kinds(defined, REGISTRY) if defined else REGISTRY
    layer = read_tagged(
        node, path, problems, kinds, REGISTRY.aliases, "layer", "`relu` or `conv: {out: 64}`"
    )
    if cache is not None and layer is not INVALID and len(problems.problems) == before:
        cache[id(node)] = (node, defined, layer)
    return layer


def walk_layers(layers) -> Iterator[Layer]:
    """Every layer of a list, and the layers written inside each (groups, residual bodies)."""
    for layer in layers:
        yield layer
        yield from walk_layers(layer.children())


# --- what the walk records --------------------------------------------------------------------


class Row:
    """One line of `scaffold inspect`."""

    __slots__ = ("module", "kind", "shape", "params", "macs", "depth", "group")

    def __init__(
        self,
        module: str,  # state_dict prefix ("" for a function call in forward)
        kind: str,
        shape: Shape,
        params: int,
        macs: int,
        depth: int = 0,
        group: bool = False,  # a container whose children follow; its numbers are their sum
    ) -> None:
        self.module, self.kind, self.shape = module, kind, shape
        # plain numbers: counted in a defined block, they would carry their code (emit.Symbolic)
        # into every sum of a group, for nothing
        self.params, self.macs, self.depth, self.group = int(params), int(macs), depth, group

    def __repr__(self) -> str:
        return f"Row({self.module!r}, {self.kind!r}, {self.shape}, {self.params}, {self.macs})"


class PretrainedLoad:
    """torchvision weights the generated model can load, and where they go."""

    def __init__(
        self,
        arch: str,  # torchvision model name, e.g. "vgg16"
        weights_enum: str,  # e.g. "VGG16_Weights"
        weights_member: str,  # e.g. "IMAGENET1K_V1"
        target: str,  # attribute receiving the weights; "" for the whole model
        source_prefix: str,  # prefix of the keys in torchvision's state_dict ("features." or "")
        head: str = "",  # the classifier's state_dict prefix, loaded only when its shape matches
        left_out: tuple[str, ...] = (),  # prefixes of the file's keys the model leaves out
        old_keys: tuple[list[str], list[tuple[str, str]]] | None = None,  # why, (old, new) parts
        aux_heads: tuple[str, ...] = (),  # the auxiliary heads' classifiers, loaded as `head`
    ) -> None:
        self.arch, self.weights_enum, self.weights_member = arch, weights_enum, weights_member
        self.target, self.source_prefix, self.head = target, source_prefix, head
        self.left_out, self.old_keys = left_out, old_keys
        self.aux_heads = aux_heads


class AuxiliaryHead(NamedTuple):
    """A side head whose class scores the model returns in training (see blocks/auxiliary)."""

    name: str  # its module
    weight: float  # of its loss, added to the main one
    var: str  # forward's variable holding its scores


class Context:
    """What a unit's plan() records into: names, modules, rows, forward steps and helpers.

    One Context is one walk over a blueprint's layers (see scaffold.plan).
    """

    def __init__(
        self,
        layers: list[Layer],
        num_classes: int,
        vocab_size: int | None,
        last: Layer | None,
        problems: ProblemCollector,
    ) -> None:
        self.num_classes, self.vocab_size = num_classes, vocab_size
        self._last = last
        self.rows: list[Row] = []
        self.modules: list[tuple[str, Expr]] = []
        self.module_names: list[str] = []  # top-level attributes that hold parameters, in order
        self.statements: list[Assign] = []
        self.forward = Forward(self.statements, "x", "x")
        self.constants: list[Constant] = []
        self.constants_comment = ""
        self.pretrained: list[PretrainedLoad] = []
        self.init_weights = False
        self.fragments: dict[Fragment, set[str]] = {}
        self._fragment_order: dict[Fragment, tuple[int, int, int]] = {}
        self.kinds_used: dict[str, int] = {}
        self.taken: set[str] = set()
        self._counters: dict[str, int] = {}
        self._kind_counts: dict[str, int] = {}
        self._vars: dict[str, int] = {}
        self.prefix = ""  # rows of a defined block's class: its state_dict prefix, its depth
        self.depth = 0
        self.defined_classes: dict[str, dict[str, str]] = {}  # kind -> {class code: name}
        self.defined_fragments: dict[str, Fragment] = {}
        self.auxiliary: list[AuxiliaryHead] = []
        for layer in walk_layers(layers):
            for base in (layer.NAME, *layer.extra_names()):
                self._kind_counts[base] = self._kind_counts.get(base, 0) + 1
        self.user_names = self._user_names(layers, problems)

    def child(self, layers: list[Layer], prefix: str, depth: int) -> Context:
        """The walk of a defined block's class: names and code of its own, and rows, helpers and
        constants shared with this walk (its rows under `prefix`, at `depth`)."""
        names = ProblemCollector()
        inner = Context(layers, self.num_classes, self.vocab_size, None, names)
        if names.problems:  # a name used twice in the block, or one a module cannot have
            raise ShapeError(*_problem_parts(names.problems[0]))
        inner.rows = self.rows
        inner.constants = self.constants
        inner.pretrained = self.pretrained
        inner.fragments = self.fragments
        inner._fragment_order = self._fragment_order
        inner.kinds_used = self.kinds_used
        inner.defined_classes = self.defined_classes
        inner.defined_fragments = self.defined_fragments
        inner.auxiliary = self.auxiliary
        inner.prefix = f"{self.prefix}.{prefix}" if self.prefix else prefix
        inner.depth = self.depth + depth
        return inner

    def release(self, base: str) -> None:
        """The last variable `var(base)` gave is not used after all."""
        self._vars[base] -= 1

    def var(self, base: str) -> str:
        """A new local variable of forward: `identity`, then `identity2`."""
        count = self._vars[base] = self._vars.get(base, 0) + 1
        return base if count == 1 else f"{base}{count}"

    # --- facts --------------------------------------------------------------------------------

    def classes(self, layer: Layer) -> int:
        """The number of classes, for a layer that writes `classes` (the model's argument)."""
        if self.prefix:
            raise layer.error(
                "`classes` is the model's argument, not a defined block's",
                "give the block a parameter for it, and pass `classes`'s number",
                key="out",
            )
        return self.num_classes

    def is_last(self, layer: Layer) -> bool:
        """Whether `layer` is the model's last layer (its classifier)."""
        return layer is self._last

    # --- naming -------------------------------------------------------------------------------

    @staticmethod
    def _user_names(layers: list[Layer], problems: ProblemCollector) -> set[str]:
        names: dict[str, Layer] = {}
        for layer in walk_layers(layers):
            if not layer.name:
                continue
            where = layer.key_locations.get("name", layer.location)
            problem = module_name_problem(layer.name)
            if problem:
                problems.add(where, f"{layer.path}.name", problem, "choose another module name")
            elif layer.name in names:
                problems.add(
                    where,
                    f"{layer.path}.name",
                    f"the name '{layer.name}' is already used by {names[layer.name].path}",
                    "every module needs its own name",
                )
            names[layer.name] = layer
        return set(names)

    def name(self, layer: Layer | None, base: str | None = None, single_ok: bool = True) -> str:
        """The attribute name for `layer`: the user's, else its kind's base (`fc` when there is
        one linear layer), else the base numbered (`conv1`, `conv2`). A base that no module may
        have (a keyword, or nn.Module's attributes: a defined block called `half` or `train`) is
        always numbered: `half1`, as a second use would give."""
        if layer is not None and layer.name:
            self.taken.add(layer.name)
            return layer.name
        base = base or (layer.NAME if layer is not None else "module")
        if (
            single_ok
            and not derived_name_problem(base)
            and self._kind_counts.get(base, 0) <= 1
            and base not in self.taken
            and base not in self.user_names
        ):
            self.taken.add(base)
            return base
        while True:
            self._counters[base] = self._counters.get(base, 0) + 1
            candidate = f"{base}{self._counters[base]}"
            if candidate not in self.taken and candidate not in self.user_names:
                self.taken.add(candidate)
                return candidate

    def fixed_name(self, wanted: str) -> str:
        """torchvision's name when free (the stem's relu, maxpool), else a numbered one."""
        if wanted not in self.taken and wanted not in self.user_names:
            self.taken.add(wanted)
            return wanted
        return self.name(None, wanted, single_ok=False)

    # --- recording ----------------------------------------------------------------------------

    def module(self, name: str, value: Expr, params: bool = True) -> None:
        """`self.name = value` in __init__; `params`: it holds parameters (phases may name it)."""
        self.modules.append((name, value))
        if params:
            self.module_names.append(name)

    def row(
        self, module: str, kind: str, shape: Shape, params: int = 0, macs: int = 0, depth: int = 0
    ) -> None:
        """A line of `scaffold inspect`: a module (its state_dict prefix) or a call ("")."""
        self.rows.append(Row(self._in(module), kind, shape, params, macs, self.depth + depth))

    def _in(self, module: str) -> str:
        return f"{self.prefix}.{module}" if self.prefix and module else module or ""

    def mark(self) -> int:
        """Where the next row goes: give it to `group` once the group's children are recorded."""
        return len(self.rows)

    def group(self, mark: int, module: str, kind: str, shape: Shape, depth: int = 0) -> None:
        """A container row before the rows recorded since `mark`, with their totals."""
        depth += self.depth
        params = macs = 0
        for row in self.rows[mark:]:
            if not row.group and row.depth > depth:
                params += row.params
                macs += row.macs
        self.rows.insert(mark, Row(self._in(module), kind, shape, params, macs, depth, group=True))

    def conv_row(
        self,
        module: str,
        kernel: int,
        in_channels: int,
        out: Shape,
        depth: int,
        stride: int = 1,
        groups: int = 1,
        bias: bool = False,
    ) -> None:
        """The row of a square convolution: parameters and multiply-adds from its shapes."""
        per_output = int(in_channels) // int(groups) * int(kernel) * int(kernel)
        out_channels = int(out.dims[0])
        label = f"conv {kernel}x{kernel}" + (f"/{stride}" if stride > 1 else "")
        if groups > 1:
            label = ("depthwise " if groups == in_channels == out_channels else "grouped ") + label
        params = out_channels * per_output + (out_channels if bias else 0)
        self.row(module, label, out, params, out.count * per_output, depth)

    def bn_row(self, module: str, shape: Shape, depth: int) -> None:
        self.row(module, "batch norm", shape, 2 * shape.dims[0], 0, depth)

    def use(self, fragment: Fragment, *flags: str, by: Layer | None = None) -> None:
        """model.py defines `fragment` (with `flags`). Helpers are printed in the order the model
        first uses their units, each unit's in the order of its FRAGMENTS."""
        self.fragments.setdefault(fragment, set()).update(flags)
        if fragment not in self._fragment_order:
            kind = by.KIND if by is not None else ""
            listed = type(by).FRAGMENTS if by is not None else ()
            position = listed.index(fragment) if fragment in listed else len(listed)
            first = self.kinds_used.setdefault(kind, len(self.kinds_used))
            self._fragment_order[fragment] = (first, position, len(self._fragment_order))

    def use_last(self, fragment: Fragment) -> None:
        """model.py defines `fragment` after every helper used so far (a defined block's class,
        after the helpers its layers use)."""
        self.fragments.setdefault(fragment, set())
        if fragment not in self._fragment_order:
            self._fragment_order[fragment] = (len(self.kinds_used), 0, len(self._fragment_order))
            self.kinds_used[f"class {fragment.name}"] = len(self.kinds_used)

    def used(self, layer: Layer) -> None:
        """The walk notes every unit as it plans it (for the order of helpers)."""
        self.kinds_used.setdefault(layer.KIND, len(self.kinds_used))

    def constant(self, name: str, value, comment: str = "", rows_end_at=None) -> None:
        """A module-level constant of model.py (e.g. a VGG cfg list), once; `comment` goes above
        the first constant. A list too long for a line gets a row per run up to each
        `rows_end_at` item (a VGG block per row, as the paper's table)."""
        if all(c.name != name for c in self.constants):
            self.constants.append(Constant(name, value, rows_end_at))
            self.constants_comment = self.constants_comment or comment

    def ordered_fragments(self) -> list[tuple[Fragment, frozenset[str]]]:
        ordered = sorted(self.fragments, key=self._fragment_order.__getitem__)
        return [(f, frozenset(self.fragments[f])) for f in ordered]


# --- layers of one module ---------------------------------------------------------------------


class Simple:
    """What a one-module layer does to its input and how it is written: as an attribute
    (`ctor`), or as a call in forward instead (`call`, e.g. `F.relu(HOLE)`)."""

    __slots__ = ("out", "ctor", "label", "params", "macs", "call", "joins", "joinable")

    def __init__(
        self,
        out: Shape,
        ctor: Expr | None,
        label: str,
        params: int = 0,
        macs: int = 0,
        call: Expr | None = None,
        joins: bool = False,
        joinable: bool = False,
    ) -> None:
        self.out, self.ctor, self.label = out, ctor, label
        self.params, self.macs, self.call = params, macs, call
        self.joins = joins  # goes on the previous step's line: x = F.relu(self.bn1(self.conv1(x)))
        self.joinable = joinable  # a following batch norm or activation may join its line


@section
class SimpleLayer(Layer):
    """A layer that is one torch module (or one function call in forward)."""

    NAMED_ENTRY = True

    def simple(self, x: Shape, ctx: Context, in_sequential: bool) -> Simple:
        raise NotImplementedError(f"{type(self).__name__}.simple")

    def plan(self, x: Shape, ctx: Context) -> Shape:
        info = self.simple(x, ctx, in_sequential=False)
        comment = info.out.comment()
        if info.call is not None:  # no module: a function call in forward (activations, flatten)
            ctx.row("", info.label, info.out)
            if info.joins:
                ctx.forward.join(info.call, comment)
            else:
                ctx.forward.start(info.call, comment)
            return info.out
        name = ctx.name(self)
        ctx.module(name, info.ctor, params=info.params > 0)
        ctx.row(name, info.label, info.out, info.params, info.macs)
        if info.joins:
            ctx.forward.join(this(name)(HOLE), comment)
        else:
            ctx.forward.start(this(name)(HOLE), comment, joinable=info.joinable)
        return info.out

    def entries(self, x: Shape, ctx: Context, prefix: str, start: int, depth: int):
        info = self.simple(x, ctx, in_sequential=True)
        ctx.row(f"{prefix}.{start}", info.label, info.out, info.params, info.macs, depth)
        return [(info.ctor, info.out)]
