"""Blocks defined in YAML: a blueprint's `blocks:` section, and a team template's `blocks/NAME.yaml`.

A definition is a parameterised group of layers:

    blocks:
      cbam:
        params: {reduction: 16, kernel: 7}    # each with its default; `~` for a required one
        layers:
          - conv: {out: $in_channels // reduction, kernel: 1}
          ...

and is used like any layer (`- cbam: {reduction: 8}`). A value written `$EXPRESSION` is computed
from the parameters and `in_channels` (the input's channels) with + - * / //, comparisons, and,
or, max(...), min(...) and parentheses. `let: {hidden: $in_channels * expansion}` names a value
once (a local of the class's __init__, used as `$hidden`); a parameter whose default is a pair
(`kernel: [1, 1]`) takes a number or [height, width] and is passed on by its name.
`$` starts a plain YAML word (no quotes, no braces that YAML would read as a mapping), and in the
JSON Schema it is a string with a pattern, so the definition's layers stay plain YAML.

A definition becomes one class in model.py, written the way torchvision writes BasicBlock: its
`__init__` takes `in_channels` and the parameters and builds the layers with the same walk as the
model's (the values computed from parameters are written as the expressions they come from:
`nn.Conv2d(in_channels, in_channels // reduction, kernel_size=1)`), and each use is one
instance, `Cbam(64, reduction=8)`. Where two uses would need different code (a parameter that
changes which layers there are), the second gets a class of its own (`Cbam2`).

The definition's layers are read at each use, with its arguments in place: a mistake inside is
reported at its line in the definition, naming the place of use.
"""

from __future__ import annotations

import functools
import re
import textwrap
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from ..errors import BlueprintError, Location, Problem, ProblemCollector
from ..names import class_name_problem
from ..source import MapNode, Node, ScalarNode, SeqNode
from ..spec import (
    INVALID,
    REQUIRED,
    Bool,
    FieldType,
    Float,
    Int,
    Pair,
    Str,
    did_you_mean,
    section,
    show,
    spec_field,
)
from ..style import LINE_LENGTH
from .base import (
    HOLE,
    IDENTIFIER,
    READ_CACHE,
    Context,
    Layer,
    Ref,
    Shape,
    ShapeError,
    Var,
    read_layer,
    this,
)
from .emit import (
    BinOp,
    Call,
    Fragment,
    Lit,
    Symbolic,
    SymBool,
    SymInt,
    SymPair,
    literal,
    pair,
    read_from_self,
    symbolic,
)

RESERVED = {"name", "in_channels", "self", "x", "max", "min"}
FUNCTIONS = ("max", "min")  # those of $EXPRESSION (expressions.FUNCTIONS, without importing ast)
_PLANNING: ContextVar[tuple[str, ...]] = ContextVar("_PLANNING", default=())  # blocks being planned


class Definition:
    """A block written in YAML: its parameters (name -> default, REQUIRED for none) and layers."""

    def __init__(
        self,
        name: str,
        params: dict[str, Any],
        layers: SeqNode,
        location: Location,
        doc: str = "",
        param_locations: dict[str, Location] | None = None,
        lets: dict[str, ScalarNode] | None = None,
    ) -> None:
        self.name, self.params, self.layers, self.location = name, params, layers, location
        self.doc = doc
        self.param_locations = param_locations or {}
        self.lets = (
            lets or {}
        )  # name -> its value (`$EXPRESSION` or a number), each after those it uses
        self.class_name = ""
        # per node of `layers` (by id): the names its `$` values use; its substituted copies by
        # those names' values; layers read from those copies (see base.read_layer)
        self.names: dict[int, frozenset | None] = {}
        self.substituted: dict[tuple, Node] = {}
        self.read: dict[int, tuple] = {}


class Scalar(FieldType):
    """Any number, word or boolean (a required parameter of a defined block)."""

    def read(self, node: Node, path: str, problems: ProblemCollector) -> Any:
        if isinstance(node, ScalarNode) and node.value is not None:
            return node.value
        return self._wrong(node, path, problems)

    def schema(self) -> dict[str, Any]:
        return {"type": ["integer", "number", "string", "boolean"]}

    def describe(self) -> str:
        return "a number, a word or true/false"


def _param_type(default: Any) -> FieldType:
    if isinstance(default, bool):
        return Bool()
    if isinstance(default, int):
        return Int()
    if isinstance(default, float):
        return Float()
    if isinstance(default, str):
        return Str()
    if isinstance(default, tuple):
        return Pair(Int())
    return Scalar()


@section
class DefinedBlock(Layer):
    """A use of a block defined in YAML."""

    NAMED_ENTRY = True

    DEFINITION: Definition
    POSITIONAL: tuple[str, ...] = ()  # parameters a use passes by position (a bundled block's)

    def plan(self, x: Shape, ctx: Context) -> Shape:
        name = ctx.name(self)
        mark = ctx.mark()
        call, out = self._instance(x, ctx, name, depth=1)
        ctx.group(mark, name, self.label(x, out), out)
        ctx.module(name, call)
        ctx.forward.start(this(name)(HOLE), out.comment())
        return out

    def entries(self, x: Shape, ctx: Context, prefix: str, start, depth: int):
        module = f"{prefix}.{start}"
        mark = ctx.mark()
        call, out = self._instance(x, ctx, module, depth + 1)
        ctx.group(mark, module, self.label(x, out), out, depth)
        return [(call, out)]

    def label(self, x: Shape, out: Shape) -> str:
        """The block's row in `inspect` (a bundled block's in its own words)."""
        return self.KIND

    def arguments(self) -> dict[str, Any]:
        return {p: getattr(self, p) for p in self.DEFINITION.params}

    def check_input(self, x: Shape) -> None:
        """A bundled block's check of its input, in its own words (`need_image`)."""

    def _instance(self, x: Shape, ctx: Context, module: str, depth: int):
        """Plan the block's class on `x` (rows under `module`); its construction and output."""
        self.check_input(x)
        d = self.DEFINITION
        values = {p: self._classes(p, v, ctx) for p, v in self.arguments().items()}
        symbols = {
            p: SymPair(v, Var(p)) if isinstance(v, tuple) else symbolic(v, Var(p))
            for p, v in values.items()
        }
        channels = given = None
        if x.kind in ("image", "vector") or x.kind in ("words", "sequence", "channels_last"):
            axis = 0 if x.kind in ("image", "vector") else len(x.dims) - 1
            given = x.dims[axis]  # in a block inside a block: an expression of the outer one's
            channels = SymInt(given, Var("in_channels"))
            dims = list(x.dims)
            dims[axis] = channels
            x = Shape(x.kind, tuple(dims))
            symbols["in_channels"] = channels
        lets = self._lets(symbols)
        active = _PLANNING.get()
        if self.KIND in active:
            chain = " -> ".join([*active[active.index(self.KIND) :], self.KIND])
            raise self.error(f"the block '{self.KIND}' uses itself ({chain})")
        token = _PLANNING.set((*active, self.KIND))
        try:
            layers = self._layers(symbols)
            self.planned_layers = layers  # for a residual around it (compose.makes_new_tensor)
            inner = ctx.child(layers, module, depth)
            from .compose import plan_layers

            out = plan_layers(layers, x, inner)
        except ShapeError as error:
            raise self._located(error.problem) from None
        finally:
            _PLANNING.reset(token)
        inner.forward.flush()
        ctx.init_weights = ctx.init_weights or inner.init_weights
        statements = inner.statements
        for statement in statements:  # shapes differ from one use to the next: none in the class
            statement.comment = ""
        arguments = frozenset(
            [*d.params, *lets, *(["in_channels"] if channels is not None else [])]
        )
        statements, kept = read_from_self(statements, arguments)
        taken = sorted(kept & {name for name, _ in inner.modules})
        if taken:
            raise self._located(
                Problem(
                    d.param_locations.get(taken[0])
                    or (d.lets[taken[0]].location if taken[0] in d.lets else d.location),
                    f"blocks.{d.name}",
                    f"forward reads '{taken[0]}' as self.{taken[0]}, which is also a layer's name",
                    f"rename the parameter or the layer `name: {taken[0]}`",
                )
            )
        kept_in_order = [n for n in ["in_channels", *d.params, *lets] if n in kept]
        code = _class_code(d, values, lets, inner, statements, channels is not None, kept_in_order)
        class_name = self._class_name(ctx, code)
        source = code.replace("class __BLOCK__(", f"class {class_name}(", 1)
        fragment = _fragment(ctx, class_name, source, inner)
        ctx.use_last(fragment)
        args: list = []
        if channels is not None:
            args.append(given)
        args += [values[p] for p in self.POSITIONAL]  # the first required ones, in their order
        # the parameters by name: the class's signature follows the blueprint's mapping, whose
        # order the recorded blueprint (copier's answers) need not keep
        keywords = {
            p: pair(v) if isinstance(v, tuple) else v
            for p, v in values.items()
            if p not in self.POSITIONAL
            and (d.params[p] is REQUIRED or isinstance(v, Symbolic) or v != d.params[p])
        }
        # the output in the terms of the enclosing code: its numbers, or its own expressions
        outer = {**values, "in_channels": given}
        for let, value in lets.items():
            outer[let] = _rebind(value, outer)
        out = Shape(out.kind, tuple(_rebind(v, outer) for v in out.dims))
        return Ref(class_name)(*args, **keywords), out

    def _lets(self, symbols: dict[str, Any]) -> dict[str, Any]:
        """The definition's `let` values, computed from the arguments (and the values they use,
        computed first); each is then a name in `symbols`, so the class writes `hidden` where it
        is used."""
        d = self.DEFINITION
        lets = {}
        for name, node in d.lets.items():
            value = node.value
            if isinstance(value, str):
                from .expressions import evaluate

                try:
                    value = evaluate(value[1:].strip(), symbols)
                except ValueError as error:
                    raise self._located(
                        Problem(node.location, f"blocks.{d.name}.let.{name}", str(error), "")
                    ) from None
            if isinstance(value, float) and not isinstance(value, Symbolic) and value.is_integer():
                value = int(value)
            lets[name] = value
            if isinstance(value, (bool, SymBool)):
                symbols[name] = SymBool(bool(value), Var(name))
            else:
                symbols[name] = symbolic(_plain(value), Var(name))
        return lets

    def _classes(self, param: str, value: Any, ctx: Context) -> Any:
        """An argument written `classes`: the model's number of classes, passed on as its
        `num_classes` (an auxiliary head's InceptionAux(512, num_classes=num_classes))."""
        if value != "classes" or isinstance(value, Symbolic):
            return value
        if ctx.prefix:
            raise self.error(
                "`classes` is the model's argument, not a defined block's",
                "give the enclosing block a parameter for it, and pass `classes` to that",
                key=param,
            )
        return SymInt(ctx.num_classes, Var("num_classes"))

    def _layers(self, symbols: dict[str, Any]) -> list[Layer]:
        d = self.DEFINITION
        problems = ProblemCollector()
        node = _substitute(d.layers, symbols, d, problems)
        layers = []
        token = READ_CACHE.set(d.read)
        try:
            self._read(node, problems, layers)
        finally:
            READ_CACHE.reset(token)
        if problems.problems:  # located with this use by _instance
            first = problems.problems[0]
            raise ShapeError(first.location, first.field, first.message, first.hint)
        return layers

    def _read(self, node: Node, problems: ProblemCollector, layers: list) -> None:
        d = self.DEFINITION
        if not problems.problems:
            if not isinstance(node, SeqNode) or not node.items:
                problems.add(d.layers.location, f"blocks.{d.name}.layers", "needs a list of layers")
            else:
                for i, item in enumerate(node.items):
                    layer = read_layer(item, f"blocks.{d.name}.layers[{i}]", problems)
                    if layer is not INVALID:
                        layers.append(layer)

    def _located(self, problem: Problem) -> ShapeError:
        """A problem inside the definition, at its line there, naming this use."""
        use = f" (in the block '{self.KIND}' used at {self.location})" if self.location else ""
        return ShapeError(problem.location, problem.field, problem.message + use, problem.hint)

    def _class_name(self, ctx: Context, code: str) -> str:
        """One class per definition; another only where a use needs different code."""
        classes = ctx.defined_classes.setdefault(self.KIND, {})
        if code not in classes:
            base = self.DEFINITION.class_name
            classes[code] = base if not classes else f"{base}{len(classes) + 1}"
        return classes[code]


class BundledBlock(DefinedBlock):
    """A built-in kind written in the blueprint language, in `scaffold/blocks/FILE.yaml` beside
    its unit: the unit declares its fields as any unit does (the words users write, their types
    and defaults), `arguments()` gives the definition's parameters from them, and a mistake is
    reported where the kind is used (the definition is scaffold's, not the user's)."""

    FILE = ""
    # torchvision's call, `BasicConv2d(64, 192, kernel_size=3)`: the first required parameters
    POSITIONAL: tuple[str, ...] = ()

    @property
    def DEFINITION(self) -> Definition:  # type: ignore[override]  # noqa: N802 (DefinedBlock's)
        return bundled_definition(self.FILE)

    def arguments(self) -> dict[str, Any]:
        raise NotImplementedError(f"{type(self).__name__}.arguments")

    def _located(self, problem: Problem) -> ShapeError:
        return self.error(problem.message, problem.hint)


_BUNDLED: dict[str, Definition] = {}


def bundled_definition(name: str) -> Definition:
    """The definition in scaffold/blocks/NAME.yaml, read once."""
    made = _BUNDLED.get(name)
    if made is None:
        from ..source import parse_yaml

        path = Path(__file__).resolve().parent / f"{name}.yaml"
        node = parse_yaml(path.read_text(encoding="utf-8"), str(path))
        problems = ProblemCollector()
        made = read_definition(name, node, name, problems)
        if made is None:  # scaffold's own file: a bug here, shown as the reader found it
            raise BlueprintError(problems.problems)
        _BUNDLED[name] = made
    return made


_OPS = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
    "//": lambda a, b: a // b,
}


KEYS = ("params", "let", "layers", "doc", "class")


def _rebind(value, outer: dict):
    """A size the class computes from its arguments, as the code that constructs it computes it:
    `in_channels * 2` in the class is `64 * 2 = 128` in the model, or `in_channels * 2 * 2` in an
    enclosing block's class."""
    if not isinstance(value, Symbolic):
        return value

    def evaluate(code):
        if isinstance(code, Var):
            return outer[code.name]
        if isinstance(code, Lit):
            inner = code.value
            return evaluate(inner.expr) if isinstance(inner, Symbolic) else inner
        if isinstance(code, BinOp) and code.op in _OPS:
            return _OPS[code.op](evaluate(code.left), evaluate(code.right))
        if isinstance(code, Call) and isinstance(code.func, Var) and code.func.name in FUNCTIONS:
            from .expressions import _call

            return _call(code.func.name, [evaluate(a) for a in code.args])
        raise KeyError(code)

    try:
        result = evaluate(value.expr)
    except KeyError:
        result = None
    if result is None or result != value:  # cannot happen for sizes planned from the arguments
        return int(value) if isinstance(value, int) else float(value)
    return result


def _plain(value):
    return (int if isinstance(value, int) else float)(value)


def _camel(kind: str) -> str:
    name = "".join(part[:1].upper() + part[1:] for part in kind.split("_") if part)
    return name if not class_name_problem(name) else name + "Block"


def _class_code(
    d: Definition,
    values,
    lets: dict,
    inner: Context,
    statements,
    takes_channels: bool,
    kept: list[str] = (),
) -> str:
    """The class's source, named `__BLOCK__` (the name follows from the code)."""
    params = []
    if takes_channels:
        params.append("in_channels: int")
    ordered = sorted(d.params.items(), key=lambda item: item[1] is not REQUIRED)
    for p, default in ordered:  # those without a default first, as Python needs
        if isinstance(default, tuple) or isinstance(values[p], tuple):  # 3 or (1, 7), as torch's
            hint = "int | tuple[int, int]"
            params.append(hint if default is REQUIRED else f"{hint} = {literal(pair(default))}")
            params[-1] = f"{p}: {params[-1]}"
            continue
        kind = next(
            (t.__name__ for t in (bool, int, float, str) if isinstance(values[p], t)), "int"
        )
        params.append(f"{p}: {kind}" if default is REQUIRED else f"{p}: {kind} = {default!r}")
    doc = d.doc or f"The block `{d.name}` of the blueprint."
    lines = [
        "class __BLOCK__(nn.Module):",
        *_docstring(doc),
        "",
        f"    def __init__(self, {', '.join(params)}) -> None:",
        "        super().__init__()",
        *(f"        {name} = {literal(value)}" for name, value in lets.items()),
    ]
    for name, value in inner.modules:
        if hasattr(value, "setup"):  # a group built entry by entry (`when`)
            lines.extend("        " + line for line in value.setup())
        body = value.lines()
        lines.append(f"        self.{name} = {body[0]}")
        lines.extend("        " + line for line in body[1:])
    lines.extend(f"        self.{name} = {name}" for name in kept)  # what forward reads
    lines += ["", "    def forward(self, x: torch.Tensor) -> torch.Tensor:"]
    codes = [s.code() for s in statements]
    if statements and statements[-1].targets == ("x",):
        last = statements[-1]
        comment = f"  # {last.comment}" if last.comment else ""
        codes[-1] = f"return {last.value.code()}{comment}"
    else:
        codes.append("return x")
    lines.extend("        " + line for code in codes for line in code.split("\n"))
    return "\n".join(lines) + "\n"


@functools.lru_cache(maxsize=256)  # every use of a block writes its class again
def _docstring(doc: str) -> tuple[str, ...]:
    """The class's docstring: one line where it fits, else filled to the line length with the
    closing quotes on a line of their own (black leaves a docstring's text as it is)."""
    line = f'    """{doc}"""'
    if len(line) <= LINE_LENGTH:
        return (line,)
    options = {"subsequent_indent": "    ", "break_on_hyphens": False}
    return (*textwrap.wrap(doc, LINE_LENGTH, initial_indent='    """', **options), '    """')


def _fragment(ctx: Context, class_name: str, source: str, inner: Context) -> Fragment:
    made = ctx.defined_fragments.get(class_name)
    if made is None:
        uses = {"torch", "nn"}
        for _, value in inner.modules:
            uses.update(value.refs())
        for statement in inner.statements:
            uses.update(statement.refs())
        made = ctx.defined_fragments[class_name] = Fragment(class_name, source, uses=sorted(uses))
    return made


def _names(node: Node, known: dict[int, frozenset | None]) -> frozenset | None:
    """The names the `$` values inside `node` use (remembered per node of the definition), or
    None where it holds no `$` value: the same at every use."""
    if id(node) in known:
        return known[id(node)]
    if isinstance(node, (MapNode, SeqNode)):
        children = node.entries.values() if isinstance(node, MapNode) else node.items
        parts = [_names(child, known) for child in children]
        found = None if all(p is None for p in parts) else frozenset().union(*filter(None, parts))
    elif isinstance(node.value, str) and node.value.startswith("$"):
        from .expressions import names_in

        found = names_in(node.value[1:].strip())
    else:
        found = None
    known[id(node)] = found
    return found


def _substitute(node: Node, symbols: dict, d: Definition, problems: ProblemCollector) -> Node:
    """`node` with its `$` values computed from `symbols`; the same node object wherever the
    values it uses are the same (its layers are then read once: base.read_layer's cache)."""
    names = _names(node, d.names)
    if names is None:  # the same at every use: shared, as read
        return node
    key = (id(node), tuple((n, type(symbols.get(n)), symbols.get(n)) for n in sorted(names)))
    made = d.substituted.get(key)
    if made is not None:
        return made
    before = len(problems.problems)
    made = _substituted(node, symbols, d, problems)
    if len(problems.problems) == before:
        d.substituted[key] = made
    return made


def _substituted(node: Node, symbols: dict, d: Definition, problems: ProblemCollector) -> Node:
    if isinstance(node, MapNode):
        return MapNode(
            node.location,
            {k: _substitute(v, symbols, d, problems) for k, v in node.entries.items()},
            dict(node.key_locations),
        )
    if isinstance(node, SeqNode):
        return SeqNode(node.location, [_substitute(v, symbols, d, problems) for v in node.items])
    if isinstance(node, ScalarNode) and isinstance(node.value, str) and node.value.startswith("$"):
        from .expressions import evaluate  # ast, only for blueprints that define blocks

        try:
            result = evaluate(node.value[1:].strip(), symbols)
        except ValueError as error:
            known = (
                ", ".join(["in_channels", *d.params, *d.lets]) if "in_channels" in symbols else ""
            )
            problems.add(
                node.location,
                f"blocks.{d.name}",
                str(error),
                f"the block's parameters: {known or ', '.join(d.params) or 'none'}",
            )
            return node
        if isinstance(result, float) and not isinstance(result, Symbolic) and result.is_integer():
            result = int(result)
        return ScalarNode(node.location, result)
    return node


# --- reading definitions ----------------------------------------------------------------------


def read_definition(
    name: str, node: Node, path: str, problems: ProblemCollector, kinds=()
) -> Definition | None:
    """One definition (`params`, `layers`, `doc`), checked for its form; None if it is wrong."""
    where = node.location
    if not re.fullmatch(IDENTIFIER, name) or name.startswith("_"):
        problems.add(where, path, f"'{name}' is not a block name", "use letters, digits and _")
        return None
    if name in kinds:
        problems.add(
            where,
            path,
            f"'{name}' is a layer kind already (scaffold's, or the template's own)",
            "give the block another name",
        )
        return None
    if not isinstance(node, MapNode):
        problems.add(where, path, f"a block is a mapping with params and layers, not {show(node)}")
        return None
    for key in node.entries:
        if key not in KEYS:
            problems.add(
                node.key_locations.get(key, where),
                f"{path}.{key}",
                f"unknown key '{key}' in a block",
                did_you_mean(key, KEYS) or f"known keys: {', '.join(KEYS)}",
            )
            return None
    class_node = node.entries.get("class")
    class_name = class_node.value if isinstance(class_node, ScalarNode) else None
    if class_node is not None and (
        not isinstance(class_name, str) or class_name_problem(class_name)
    ):
        problems.add(
            class_node.location,
            f"{path}.class",
            (
                class_name_problem(class_name)
                if isinstance(class_name, str)
                else "expected a class name"
            ),
            "e.g. `class: BasicBlock`",
        )
        return None
    layers = node.entries.get("layers")
    if not isinstance(layers, SeqNode) or not layers.items:
        problems.add(where, f"{path}.layers", "a block needs `layers`, a list of layers")
        return None
    params: dict[str, Any] = {}
    locations: dict[str, Location] = {}
    given = node.entries.get("params")
    if given is not None and not (isinstance(given, ScalarNode) and given.value is None):
        if not isinstance(given, MapNode):
            problems.add(given.location, f"{path}.params", "expected a mapping of defaults")
            return None
        for key, value in given.entries.items():
            at = given.key_locations.get(key, given.location)
            if key in RESERVED or not re.fullmatch(IDENTIFIER, key):
                problems.add(at, f"{path}.params.{key}", f"'{key}' cannot be a parameter name")
                return None
            if isinstance(value, SeqNode):  # a pair: [height, width], e.g. a kernel size
                default = Pair(Int()).read(value, f"{path}.params.{key}", problems)
                if default is INVALID:
                    return None
                params[key] = default
                locations[key] = at
                continue
            if not isinstance(value, ScalarNode):
                problems.add(
                    value.location,
                    f"{path}.params.{key}",
                    "a parameter's default is a number, a pair [height, width], a word or "
                    f"true/false, not {show(value)}",
                    "write `~` for a parameter without default",
                )
                return None
            params[key] = REQUIRED if value.value is None else value.value
            locations[key] = at
    lets = _read_lets(node.entries.get("let"), params, f"{path}.let", problems)
    if lets is None or (lets := _ordered_lets(lets, f"{path}.let", problems)) is None:
        return None
    doc = node.entries.get("doc")
    text = doc.value if isinstance(doc, ScalarNode) and isinstance(doc.value, str) else ""
    d = Definition(name, params, layers, where, " ".join(text.split()), locations, lets)
    d.class_name = class_name or _camel(name)
    if lets and not _lets_used(d, f"{path}.let", problems):
        return None
    return d


def definition_schema() -> dict[str, Any]:
    """The JSON Schema of one definition (`blocks: {NAME: ...}`, `blocks/NAME.yaml`)."""
    number = {"type": ["integer", "number"]}
    expression = {"type": "string", "pattern": r"^\$"}
    pair = {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2}
    return {
        "type": "object",
        "properties": {
            "params": {
                "type": "object",
                "description": "each parameter with its default (a number, a pair [height, "
                "width], a word or true/false), `~` for a required one",
                "additionalProperties": {
                    "anyOf": [{"type": ["integer", "number", "string", "boolean", "null"]}, pair]
                },
            },
            "let": {
                "type": "object",
                "description": "named values computed from the parameters and each other "
                "(`hidden: $in_channels * expansion`), used as `$hidden`",
                "additionalProperties": {"anyOf": [number, expression]},
            },
            "layers": {"type": "array", "minItems": 1},
            "doc": {"type": "string"},
            "class": {"type": "string", "pattern": f"^{IDENTIFIER}$"},
        },
        "required": ["layers"],
        "additionalProperties": False,
    }


def _read_lets(given: Node | None, params: dict, path: str, problems: ProblemCollector):
    """`let:`, named values computed from the parameters: name -> its node; None if wrong."""
    lets: dict[str, ScalarNode] = {}
    if given is None or (isinstance(given, ScalarNode) and given.value is None):
        return lets
    if not isinstance(given, MapNode):
        problems.add(
            given.location,
            path,
            "expected a mapping of names to values, e.g. `hidden: $in_channels * 4`",
        )
        return None
    for key, value in given.entries.items():
        at = given.key_locations.get(key, given.location)
        if key in RESERVED or key in params or not re.fullmatch(IDENTIFIER, key):
            why = "a parameter's name" if key in params else "reserved" if key in RESERVED else ""
            problems.add(
                at,
                f"{path}.{key}",
                f"'{key}' cannot be a `let` name" + (f" ({why})" if why else ""),
                "use another name (letters, digits and _)",
            )
            return None
        text = value.value if isinstance(value, ScalarNode) else None
        if not (
            (isinstance(text, str) and text.startswith("$"))
            or (isinstance(text, (int, float)) and not isinstance(text, bool))
        ):
            problems.add(
                value.location,
                f"{path}.{key}",
                f"a `let` value is a number or a `$EXPRESSION`, not {show(value)}",
                "e.g. `hidden: $in_channels * expansion`",
            )
            return None
        lets[key] = value
    return lets


def _ordered_lets(lets: dict, path: str, problems: ProblemCollector) -> dict | None:
    """The `let` values each after the ones it uses, else by name: the same order (and class
    code) whatever order the mapping has (a recorded blueprint's keys are sorted). None, with a
    problem, where values use each other in a circle."""
    from .expressions import names_in

    uses = {
        name: (
            names_in(node.value[1:].strip()) & lets.keys() if isinstance(node.value, str) else set()
        )
        for name, node in lets.items()
    }
    ordered: dict = {}
    while len(ordered) < len(lets):
        ready = sorted(n for n in lets if n not in ordered and uses[n] <= ordered.keys())
        if not ready:
            circle = sorted(n for n in lets if n not in ordered)
            problems.add(
                lets[circle[0]].location,
                f"{path}.{circle[0]}",
                f"the `let` values {', '.join(circle)} are computed from each other",
                "compute one of them from the parameters",
            )
            return None
        ordered[ready[0]] = lets[ready[0]]
    return ordered


def _lets_used(d: Definition, path: str, problems: ProblemCollector) -> bool:
    """Whether each `let` value is used by the layers (or by a `let` that is): an unused one
    would be a line of the class that nothing reads."""
    from .expressions import names_in

    used = set(_names(d.layers, d.names) or ())
    for name, node in reversed(d.lets.items()):
        if name in used and isinstance(node.value, str):
            used |= names_in(node.value[1:].strip())
    for name, node in d.lets.items():
        if name not in used:
            problems.add(
                node.location,
                f"{path}.{name}",
                f"the `let` value '{name}' is not used by the block's layers",
                f"use it as ${name}, or remove it",
            )
            return False
    return True


def block_class(d: Definition) -> type[Layer]:
    """The Layer class that reads a use of `d`: its fields are the parameters."""
    namespace: dict[str, Any] = {"__annotations__": {}, "DEFINITION": d, "__doc__": d.doc}
    for p, default in d.params.items():
        namespace["__annotations__"][p] = "Any"
        namespace[p] = spec_field(_param_type(default), default, f"parameter {p}")
    cls = type(_camel(d.name), (DefinedBlock,), namespace)
    section(cls)
    cls.KIND = cls.NAME = d.name
    # `- NAME: value` fills its one parameter without default (or its one parameter)
    required = [p for p, default in d.params.items() if default is REQUIRED]
    single = required if required else list(d.params)
    cls.SHORTHAND = single[0] if len(single) == 1 else None
    return cls


def read_block_file(path: Path) -> type[Layer]:
    """A team template's `blocks/NAME.yaml` (one block, named by the file): its Layer class, or
    BlueprintError naming the file and line."""
    from ..source import parse_yaml

    text = path.read_text(encoding="utf-8")
    node = parse_yaml(text, str(path))
    problems = ProblemCollector()
    d = read_definition(path.stem, node, path.stem, problems)
    if d is None:
        raise BlueprintError(problems.problems)
    return block_class(d)


__all__ = [
    "BundledBlock",
    "DefinedBlock",
    "Definition",
    "block_class",
    "bundled_definition",
    "read_block_file",
]
