"""The one place where model.py's Python is written.

Units describe code as typed values: expressions (`nn.Conv2d(3, 64, kernel_size=3)` is the
typed `Call(Ref("nn.Conv2d"), Lit(3), Lit(64), kernel_size=Lit(3))`),
module definitions (`self.conv1 = ...`), forward steps (`x = F.relu(self.bn1(self.conv1(x)))`)
and helper fragments (a class or function that model.py defines once). Text is made here, at the
end, as black's `Line` objects are turned into text once. The imports of model.py and the names
it defines follow from the same values: an expression knows which module-level names it refers
to, a fragment says what it uses and defines. Nothing here searches generated text.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator

from ..style import LINE_LENGTH, py_literal

# --- expressions ------------------------------------------------------------------------------

ATOM, PRODUCT, SUM, COMPARE, NOT, AND, OR, TERNARY = (
    100,
    60,
    50,
    30,
    25,
    20,
    10,
    5,
)  # binding strength, for parentheses


class Expr:
    """A Python expression."""

    __slots__ = ()
    strength = ATOM

    def code(self) -> str:
        raise NotImplementedError

    def refs(self) -> Iterator[str]:
        """Module-level names the expression refers to (imports, helpers, constants)."""
        return iter(())

    def fill(self, value: Expr) -> Expr:
        """The expression with HOLE replaced by `value` (forward steps apply to the current value)."""
        return self

    def lines(self, indent: str = "    ") -> list[str]:
        return self.code().split("\n")

    # building
    def attr(self, name: str) -> Attr:
        return Attr(self, name)

    def __call__(self, *args, **kwargs) -> Call:
        return Call(self, *args, **kwargs)

    def __getitem__(self, keys) -> Index:
        return Index(self, *(keys if isinstance(keys, tuple) else (keys,)))

    __iter__ = None  # indexing builds code: an expression is not a sequence to loop over

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.code()}>"

    def __eq__(self, other) -> bool:
        return type(other) is type(self) and other.code() == self.code()

    def __hash__(self) -> int:
        return hash(self.code())


def expr(value) -> Expr:
    """A plain value (number, text, bool, None, tuple of those) as a literal; an Expr as it is."""
    return value if isinstance(value, Expr) else Lit(value)


class _Hole(Expr):
    """Where a forward step puts the value it acts on."""

    __slots__ = ()

    def code(self) -> str:
        return "{}"

    def fill(self, value: Expr) -> Expr:
        return value


HOLE = _Hole()


class Ref(Expr):
    """A module-level name of model.py, possibly dotted: `F.relu`, `nn.Conv2d`, `make_layers`."""

    __slots__ = ("dotted",)

    def __init__(self, dotted: str) -> None:
        self.dotted = dotted

    def code(self) -> str:
        return self.dotted

    def refs(self) -> Iterator[str]:
        yield self.dotted.split(".", 1)[0]


class Var(Expr):
    """A local name: an argument (`x`, `num_classes`), a variable of forward, or `self`."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def code(self) -> str:
        return self.name


SELF = Var("self")


class Module(Ref):
    """A module model.py imports, whose attributes are references: `nn.Conv2d`, `F.relu`."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Ref:
        if name.startswith("__"):
            raise AttributeError(name)
        return Ref(f"{self.dotted}.{name}")


nn, F, torch, math = Module("nn"), Module("F"), Module("torch"), Module("math")


def this(attribute: str) -> Attr:
    """`self.attribute`."""
    return Attr(SELF, attribute)


class Lit(Expr):
    """A literal of plain data: 3, 0.5, True, None, "same", (1, 2, 3), [64, "M"]."""

    __slots__ = ("value",)

    def __init__(self, value) -> None:
        self.value = value

    def code(self) -> str:
        return literal(self.value)

    @property
    def strength(self) -> int:  # type: ignore[override]
        return self.value.expr.strength if isinstance(self.value, Symbolic) else ATOM


class Symbolic:  # noqa: PLW1641 (equal and hashed as its value)
    """A number that a defined block's class computes from its arguments: it plans as its value
    (`int(x)`), and is written as the expression (`in_channels * 4`) in the class's code."""

    _code: Expr | tuple

    @property
    def expr(self) -> Expr:
        """The code of the value; that of a result of arithmetic is built when first asked for
        (most are sizes and counts that planning needs only as numbers)."""
        code = self._code
        if isinstance(code, tuple):
            left, op, right = code
            code = self._code = BinOp(_sym_expr(left), op, _sym_expr(right))
        return code

    @expr.setter
    def expr(self, code: Expr) -> None:
        self._code = code

    def _op(self, other, op: str, result, swap: bool = False):
        if not isinstance(result, (int, float)) or isinstance(result, bool):
            return result
        if _leaves_as_is(op, other, swap) and type(result) is type(self._value()):
            return symbolic(result, self._code)  # `x * 1`, `x + 0`: written `x`, as by hand
        left, right = (other, self) if swap else (self, other)
        return symbolic(result, (left, op, right))

    def __add__(self, other):
        return self._op(other, "+", self._value() + other)

    def __radd__(self, other):
        return self._op(other, "+", other + self._value(), True)

    def __sub__(self, other):
        return self._op(other, "-", self._value() - other)

    def __rsub__(self, other):
        return self._op(other, "-", other - self._value(), True)

    def __mul__(self, other):
        return self._op(other, "*", self._value() * other)

    def __rmul__(self, other):
        return self._op(other, "*", other * self._value(), True)

    def __floordiv__(self, other):
        return self._op(other, "//", self._value() // other)

    def __rfloordiv__(self, other):
        return self._op(other, "//", other // self._value(), True)

    def __truediv__(self, other):
        return self._op(other, "/", self._value() / other)

    def __rtruediv__(self, other):
        return self._op(other, "/", other / self._value(), True)

    def _value(self):
        return (int if isinstance(self, int) else float)(self)


def _leaves_as_is(op: str, other, swap: bool) -> bool:
    """Whether `x op other` (`other op x` where `swap`) is x for a plain number `other`: 1 * x,
    x * 1, x // 1, 0 + x, x + 0, x - 0."""
    if isinstance(other, (Symbolic, bool)) or not isinstance(other, (int, float)):
        return False
    if op == "*":
        return other == 1
    if op == "+":
        return other == 0
    return op in ("-", "//") and not swap and other == (0 if op == "-" else 1)


class SymInt(Symbolic, int):

    def __new__(cls, value: int, code: Expr):
        obj = int.__new__(cls, value)
        obj._code = code
        return obj


class SymFloat(Symbolic, float):

    def __new__(cls, value: float, code: Expr):
        obj = float.__new__(cls, value)
        obj._code = code
        return obj


class SymPair(Symbolic, tuple):
    """A pair (a kernel size, [height, width]) that a defined block's class takes as an argument:
    written by its name (`kernel_size=kernel`); no arithmetic."""

    def __new__(cls, value: tuple, code: Expr):
        obj = tuple.__new__(cls, value)
        obj._code = code
        return obj


class SymBool(Symbolic):
    """A condition that a defined block's class computes from its arguments (`stride != 1`)."""

    def __init__(self, value: bool, code: Expr) -> None:
        self.value, self.expr = bool(value), code

    def __bool__(self) -> bool:
        return self.value

    def __eq__(self, other) -> bool:
        return bool(self) == other

    def __hash__(self) -> int:
        return hash(self.value)

    def __repr__(self) -> str:
        return f"SymBool({self.value}, {self.expr.code()})"


def is_symbolic(value) -> bool:
    """Whether a value (or a part of a tuple) is computed from a defined block's arguments: it
    is written even where it equals the default (another use may give another value)."""
    if isinstance(value, tuple) and not isinstance(value, Symbolic):
        return any(is_symbolic(v) for v in value)
    return isinstance(value, Symbolic)


def symbolic(value, code: Expr | tuple):
    """`value` written as `code` in generated code (an int or a float; others stay as they are);
    `code` may be `(left, op, right)`, made a BinOp when it is written."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    return SymInt(value, code) if isinstance(value, int) else SymFloat(value, code)


def _sym_expr(value) -> Expr:
    return value.expr if isinstance(value, Symbolic) else Lit(value)


class Attr(Expr):
    __slots__ = ("obj", "name")

    def __init__(self, obj: Expr, name: str) -> None:
        self.obj, self.name = obj, name

    def code(self) -> str:
        return f"{_tight(self.obj)}.{self.name}"

    def refs(self) -> Iterator[str]:
        return self.obj.refs()

    def fill(self, value: Expr) -> Expr:
        return Attr(self.obj.fill(value), self.name)


class Call(Expr):
    """`func(args, key=value)`; `multiline` puts every argument on a line of its own, with an
    optional comment each (an nn.Sequential as it is written by hand)."""

    __slots__ = ("func", "args", "kwargs", "multiline", "comments")

    def __init__(
        self,
        func: Expr,
        *args,
        multiline: bool = False,
        comments: Iterable[str | None] = (),
        **kwargs,
    ) -> None:
        self.func = func
        self.args = tuple([a if isinstance(a, Expr) else Lit(a) for a in args])
        self.kwargs = tuple([(k, v if isinstance(v, Expr) else Lit(v)) for k, v in kwargs.items()])
        self.multiline = multiline
        self.comments = tuple(comments)

    def _parts(self) -> list[str]:
        return [a.code() for a in self.args] + [f"{k}={v.code()}" for k, v in self.kwargs]

    def code(self) -> str:
        return "\n".join(self.lines())

    def lines(self, indent: str = "    ") -> list[str]:
        head = f"{_tight(self.func)}("
        if not self.multiline:
            return [head + ", ".join(self._parts()) + ")"]
        result = [head]
        items = [*self.args, *(v for _, v in self.kwargs)]
        keys = [None] * len(self.args) + [k for k, _ in self.kwargs]
        comments = list(self.comments) + [None] * (len(items) - len(self.comments))
        for item, key, comment in zip(items, keys, comments):
            inner = item.lines(indent)
            if key:
                inner[0] = f"{key}={inner[0]}"
            inner[-1] += "," + (f"  # {comment}" if comment else "")
            result.extend(indent + line for line in inner)
        result.append(")")
        return result

    def refs(self) -> Iterator[str]:
        yield from self.func.refs()
        for a in self.args:
            yield from a.refs()
        for _, v in self.kwargs:
            yield from v.refs()

    def fill(self, value: Expr) -> Expr:
        filled = object.__new__(Call)  # the parts are expressions already
        filled.func = self.func.fill(value)
        filled.args = tuple([a.fill(value) for a in self.args])
        filled.kwargs = tuple([(k, v.fill(value)) for k, v in self.kwargs])
        filled.multiline, filled.comments = self.multiline, self.comments
        return filled


class Index(Expr):
    """`obj[key, ...]`; a key may be a Slice."""

    __slots__ = ("obj", "keys")

    def __init__(self, obj: Expr, *keys) -> None:
        self.obj, self.keys = obj, tuple(expr(k) for k in keys)

    def code(self) -> str:
        return f"{_tight(self.obj)}[{', '.join(k.code() for k in self.keys)}]"

    def refs(self) -> Iterator[str]:
        yield from self.obj.refs()
        for k in self.keys:
            yield from k.refs()

    def fill(self, value: Expr) -> Expr:
        return Index(self.obj.fill(value), *(k.fill(value) for k in self.keys))


class Slice(Expr):
    """`start:stop` inside an Index."""

    __slots__ = ("start", "stop")

    def __init__(self, start=None, stop=None) -> None:
        self.start, self.stop = start, stop

    def code(self) -> str:
        start = "" if self.start is None else literal(self.start)
        stop = "" if self.stop is None else literal(self.stop)
        return f"{start}:{stop}"


class BinOp(Expr):
    """`left op right` (arithmetic or a comparison)."""

    __slots__ = ("left", "op", "right", "strength")

    def __init__(self, left, op: str, right) -> None:
        self.left, self.op, self.right = expr(left), op, expr(right)
        if op in ("==", "!=", "<", ">", "<=", ">=", "is", "is not"):
            self.strength = COMPARE
        elif op in ("and", "or"):
            self.strength = AND if op == "and" else OR
        else:
            self.strength = PRODUCT if op in ("*", "/", "//", "%", "@") else SUM

    def code(self) -> str:
        left = self.left.code() if self.left.strength >= self.strength else f"({self.left.code()})"
        right = (
            self.right.code() if self.right.strength > self.strength else f"({self.right.code()})"
        )
        return f"{left} {self.op} {right}"

    def refs(self) -> Iterator[str]:
        yield from self.left.refs()
        yield from self.right.refs()

    def fill(self, value: Expr) -> Expr:
        return BinOp(self.left.fill(value), self.op, self.right.fill(value))


class List(Expr):
    """`[item, ...]`, an item a line with an optional comment (an OrderedDict's pairs)."""

    __slots__ = ("items", "comments")

    def __init__(self, items, comments: Iterable[str | None] = ()) -> None:
        self.items = tuple(expr(i) for i in items)
        self.comments = tuple(comments)

    def code(self) -> str:
        return "\n".join(self.lines())

    def lines(self, indent: str = "    ") -> list[str]:
        result = ["["]
        comments = list(self.comments) + [None] * (len(self.items) - len(self.comments))
        for item, comment in zip(self.items, comments):
            inner = item.lines(indent)
            inner[-1] += "," + (f"  # {comment}" if comment else "")
            result.extend(indent + line for line in inner)
        return result + ["]"]

    def refs(self) -> Iterator[str]:
        for item in self.items:
            yield from item.refs()


class Tuple(Expr):
    """`(a, b)` of expressions."""

    __slots__ = ("items",)

    def __init__(self, *items) -> None:
        self.items = tuple(expr(i) for i in items)

    def code(self) -> str:
        return "(" + ", ".join(i.code() for i in self.items) + ")"

    def lines(self, indent: str = "    ") -> list[str]:
        parts = [i.lines(indent) for i in self.items]
        if all(len(p) == 1 for p in parts):
            return [self.code()]
        result = ["("]
        for part in parts:
            part = list(part)
            part[-1] += ","
            result.extend(indent + line for line in part)
        return result + [")"]

    def refs(self) -> Iterator[str]:
        for item in self.items:
            yield from item.refs()


class IfElse(Expr):
    """`then if condition else otherwise`."""

    __slots__ = ("then", "condition", "otherwise")
    strength = TERNARY

    def __init__(self, then, condition, otherwise) -> None:
        self.then, self.condition, self.otherwise = expr(then), expr(condition), expr(otherwise)

    def code(self) -> str:
        parts = [self.then, self.condition, self.otherwise]
        then, condition, otherwise = (
            p.code() if p.strength > TERNARY else f"({p.code()})" for p in parts
        )
        return f"{then} if {condition} else {otherwise}"

    def refs(self) -> Iterator[str]:
        for part in (self.then, self.condition, self.otherwise):
            yield from part.refs()

    def fill(self, value: Expr) -> Expr:
        return IfElse(self.then.fill(value), self.condition.fill(value), self.otherwise.fill(value))


def _tight(e: Expr) -> str:
    """An expression as the object of `.attr`, `(...)` or `[...]`: parenthesised if it binds loosely."""
    return e.code() if e.strength >= ATOM else f"({e.code()})"


def literal(value) -> str:
    """A Python literal for plain data, with black's double quotes."""
    if isinstance(value, Symbolic):
        return value.expr.code()
    if isinstance(value, Expr):
        return value.code()
    if isinstance(value, tuple):  # (its items may be expressions)
        inner = ", ".join(literal(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    return py_literal(value)  # a string, number, bool or None


def pair(values: tuple[int, int]):
    """A kernel size, stride or padding as torch takes it: 3 for (3, 3), else (3, 5); a defined
    block's pair argument by its name."""
    if isinstance(values, Symbolic):
        return values
    a, b = values
    return a if a == b else (a, b)


# --- statements of forward --------------------------------------------------------------------


class Assign:
    """`target = value  # comment` in forward; several targets unpack a tuple."""

    __slots__ = ("targets", "value", "comment")

    def __init__(self, targets: str | tuple[str, ...], value: Expr, comment: str = "") -> None:
        self.targets = (targets,) if isinstance(targets, str) else tuple(targets)
        self.value, self.comment = value, comment

    def code(self) -> str:
        comment = f"  # {self.comment}" if self.comment else ""
        return f"{', '.join(self.targets)} = {self.value.code()}{comment}"

    def refs(self) -> Iterator[str]:
        return self.value.refs()


class AddInPlace:
    """`target += value  # comment` in forward: a residual's merge into a tensor its block made
    (torchvision's `out += identity`). No targets: nothing may inline or return it as a value."""

    __slots__ = ("target", "value", "comment")
    targets: tuple[str, ...] = ()

    def __init__(self, target: str, value: Expr, comment: str = "") -> None:
        self.target, self.value, self.comment = target, value, comment

    def code(self) -> str:
        comment = f"  # {self.comment}" if self.comment else ""
        return f"{self.target} += {self.value.code()}{comment}"

    def refs(self) -> Iterator[str]:
        return self.value.refs()


class If:
    """`if condition:` and its statements, in forward (a residual added only where its block's
    arguments say: `if self.use_residual: x += identity`)."""

    __slots__ = ("condition", "body", "comment")
    targets: tuple[str, ...] = ()

    def __init__(self, condition: Expr, body: list) -> None:
        self.condition, self.body, self.comment = condition, body, ""

    def code(self) -> str:
        lines = [f"if {self.condition.code()}:"]
        for statement in self.body:
            lines.extend("    " + line for line in statement.code().split("\n"))
        return "\n".join(lines)

    def refs(self) -> Iterator[str]:
        yield from self.condition.refs()
        for statement in self.body:
            yield from statement.refs()


def read_from_self(statements: list, names: frozenset[str]) -> tuple[list, set[str]]:
    """Forward's statements with each local name of `names` read from the module (`index` as
    `self.index`), also inside computed numbers; and the names found. A defined block's argument
    that forward uses is kept as an attribute by __init__ (`self.index = index`), as by hand."""
    names = names - {t for s in statements for t in _targets(s)}
    found: set[str] = set()
    if not names:
        return statements, found
    return [_from_self(s, names, found) for s in statements], found


def _targets(statement) -> tuple[str, ...]:
    if isinstance(statement, If):
        return tuple(t for s in statement.body for t in _targets(s))
    return statement.targets if not isinstance(statement, AddInPlace) else (statement.target,)


_SLOTS: dict[type, tuple[str, ...]] = {}
_MISSING = object()
_PLAIN = frozenset({str, int, float, bool})


def _slots(cls: type) -> tuple[str, ...]:
    """Every slot of a code class, its bases' included (once per class: validate walks many)."""
    slots = _SLOTS.get(cls)
    if slots is None:
        slots = _SLOTS[cls] = tuple(s for c in cls.__mro__ for s in getattr(c, "__slots__", ()))
    return slots


def _from_self(value, names: frozenset[str], found: set[str]):
    """`value` rebuilt where it reads one of `names` (the same object where it does not)."""
    if value is None or type(value) in _PLAIN:
        return value
    if isinstance(value, Var):
        if value.name in names:
            found.add(value.name)
            return this(value.name)
        return value
    if isinstance(value, Symbolic):
        code = _from_self(value.expr, names, found)
        if code is value.expr:
            return value
        if isinstance(value, SymBool):
            return SymBool(value.value, code)
        return (
            SymPair(value, code) if isinstance(value, SymPair) else symbolic(value._value(), code)
        )
    if isinstance(value, (tuple, list)):
        items = [_from_self(v, names, found) for v in value]
        if all(a is b for a, b in zip(items, value)):
            return value
        return type(value)(items)
    if isinstance(value, (Expr, Assign, AddInPlace, If)):
        made = None  # the rebuilt parts, from the first one that changes
        for slot in _slots(type(value)):
            part = getattr(value, slot, _MISSING)
            if part is _MISSING:
                continue
            new = _from_self(part, names, found)
            if new is not part and made is None:
                made = {}
            if made is not None:
                made[slot] = new
        if made is None:
            return value
        copy = object.__new__(type(value))
        for slot in _slots(type(value)):
            part = made.get(slot, getattr(value, slot, _MISSING))
            if part is not _MISSING:
                setattr(copy, slot, part)
        return copy
    return value


class Forward:
    """The statements of one branch of forward, with a layer's batch norm and activation joined to
    its line: `x = F.relu(self.bn1(self.conv1(x)))`."""

    def __init__(self, statements: list[Assign], var: str, source: str) -> None:
        self.statements, self.var = statements, var
        self.current: Expr = Var(source)
        self.expr: Expr | None = None
        self.comment = ""
        self.joinable = False

    def start(self, step: Expr, comment: str, joinable: bool = False) -> None:
        """A new line applying `step` (an expression with HOLE) to the current value."""
        self.flush()
        self.expr, self.comment, self.joinable = step.fill(self.current), comment, joinable

    def join(self, step: Expr, comment: str) -> None:
        """Apply `step` on the same line as the previous step when that one allows it."""
        if self.expr is None or not self.joinable:
            self.start(step, comment, joinable=True)
        else:
            self.expr, self.comment = step.fill(self.expr), comment

    def flush(self) -> None:
        if self.expr is not None:
            self.statements.append(Assign(self.var, self.expr, self.comment))
            self.current, self.expr = Var(self.var), None

    def add_in_place(self, value: Expr, comment: str) -> None:
        """`var += value` on the current value, which must be `var` itself (flushed)."""
        self.flush()
        assert self.current == Var(self.var), "add in place only to the branch's own variable"
        self.statements.append(AddInPlace(self.var, value, comment))

    def statement(self, *statements: Assign) -> None:
        """Statements of their own (e.g. unpacking an LSTM's outputs)."""
        self.flush()
        self.statements.extend(statements)
        self.current = Var(self.var)


# --- helpers that model.py defines ------------------------------------------------------------


class Fragment:
    """A helper class or function that model.py defines once, whichever blocks use it.

    `code` is its source, or a function of the flags its users set (e.g. "se": the blocks take a
    squeeze-excitation argument); `uses` the module-level names the source refers to (imports,
    other helpers); `defines` the names it binds (default: `name`); `imports` the import lines
    it needs beyond those of IMPORTS (a team's block file: `from torch import Tensor`).
    """

    __slots__ = ("name", "source", "uses", "defines", "imports")

    def __init__(
        self, name: str, code, uses: Iterable[str] = ("torch", "nn"), defines=(), imports=()
    ) -> None:
        self.name, self.source = name, code
        self.uses = tuple(uses)
        self.defines = tuple(defines) or (name,)
        self.imports = tuple(imports)

    def code(self, flags: frozenset[str]) -> str:
        source = self.source(flags) if callable(self.source) else self.source
        return source.strip("\n")

    def __repr__(self) -> str:
        return f"<Fragment {self.name}>"


# --- module-level constants -------------------------------------------------------------------


class Constant:
    """`NAME = [...]` at the top of model.py. A list longer than a line gets a row per run up to
    each `rows_end_at` item, between `# fmt: off` and `# fmt: on` (black would give every item
    a line of its own)."""

    __slots__ = ("name", "value", "rows_end_at")

    def __init__(self, name: str, value, rows_end_at=None) -> None:
        self.name, self.value, self.rows_end_at = name, value, rows_end_at

    def code(self) -> str:
        line = f"{self.name} = {literal(self.value)}"
        if len(line) <= LINE_LENGTH or self.rows_end_at is None:
            return line
        rows: list[list] = [[]]
        for item in self.value:
            rows[-1].append(item)
            if item == self.rows_end_at:
                rows.append([])
        text = "".join(f"    {', '.join(literal(v) for v in row)},\n" for row in rows if row)
        return f"# fmt: off\n{self.name} = [\n{text}]\n# fmt: on"


# --- model.py ---------------------------------------------------------------------------------

# How model.py imports each module-level name it may use from outside, in the order printed.
IMPORTS = {
    "OrderedDict": "from collections import OrderedDict",
    "math": "import math",
    "torch": "import torch",
    "F": "import torch.nn.functional as F",
    "nn": "from torch import nn",
}
# The model class itself is written with these (nn.Module, torch.Tensor in the signature).
CLASS_USES = ("torch", "nn")


class ModelCode:
    """The text of model.py's parts, made from the plan's typed values."""

    def __init__(
        self,
        modules: list[tuple[str, Expr]],
        statements: list[Assign],
        fragments: list[tuple[Fragment, frozenset[str]]],
        constants: list[Constant],
        constants_comment: str,
    ) -> None:
        self.init_lines: list[str] = []
        for name, value in modules:
            lines = value.lines()
            self.init_lines.append(f"self.{name} = {lines[0]}")
            self.init_lines.extend(lines[1:])
        self.forward_lines = [s.code() for s in statements]
        self.helpers = [fragment.code(flags) for fragment, flags in fragments]
        self.constants = [constant.code() for constant in constants]
        self.constants_comment = constants_comment
        used = set(CLASS_USES)
        for _, value in modules:
            used.update(value.refs())
        for statement in statements:
            used.update(statement.refs())
        for fragment, _ in fragments:
            used.update(fragment.uses)
        # the standard library apart, as isort has it; a team block's own imports in their group
        standard = [IMPORTS[name] for name in ("OrderedDict", "math") if name in used]
        others = [line for name, line in IMPORTS.items() if name in used and not _standard(line)]
        for fragment, _ in fragments:
            for line in fragment.imports:
                (standard if _standard(line) else others).append(line)
        standard, others = list(dict.fromkeys(standard)), list(dict.fromkeys(others))
        self.imports = standard + [""] * bool(standard) + others
        self.defines = (
            {name for name in IMPORTS if name in used}
            | {constant.name for constant in constants}
            | {name for fragment, _ in fragments for name in fragment.defines}
        )
        unknown = used - set(IMPORTS) - self.defines
        if unknown:  # a unit refers to a helper it never asked for: a bug in that unit
            raise AssertionError(f"model.py would use undefined names: {sorted(unknown)}")


def _standard(import_line: str) -> bool:
    """Whether an import line imports from the standard library."""
    return import_line.split()[1].split(".")[0] in sys.stdlib_module_names
