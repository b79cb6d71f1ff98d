"""A team's own block kinds, written as plain PyTorch: `blocks/NAME.py` at a template's root.

The contract, all of it (examples/team-template/README.md shows it with ECA):

- The file's name is the kind: `blocks/eca.py` is `- eca` in a blueprint.
- The file is an ordinary Python module that imports torch, torchvision and the standard library,
  never scaffold: it can be imported, linted and tested as it is.
- It defines one `nn.Module` subclass, the block (with helper modules beside it, `__all__ = ["X"]`
  names which one is the block).
- The block's constructor parameters are the kind's fields. A first parameter named `channels` or
  `in_channels` gets the input's channels (a vector's features); every other one is a field the
  blueprint may set, typed by its annotation (`int`, `float`, `bool`, `str`, or one of them
  `| None`) and optional when it has a default; a parameter of another type with a default is
  left at it. A single value (`- eca: 5`) sets the first field. The class docstring's first
  paragraph describes the kind, its `Args:` section the fields (`scaffold schema --template`).
- Files whose names start with `_` are not kinds (nor read).

Nothing about the block is trusted: its output shape and parameters come from building it on the
meta device with the blueprint's arguments and running it on an input of the layer's shape (no
memory, no arithmetic), and its multiply-adds from `torch.utils.flop_counter` on that run (FLOPs
/ 2), as `scaffold inspect` counts every layer. torch is imported only when a blueprint uses such
a block (or the schema lists its fields). The file's code, less its docstring, imports and
`if __name__ == "__main__":` part, is printed into the generated model.py, whose imports take in
the file's, so a generated project imports neither scaffold nor the template.

`scan(folder)` reads the folder's files without running them (the kinds, and the mistakes that
can be seen in the text: a syntax error, an import of scaffold); `load(team_file)` runs one file
and makes its kind. Both raise UnitError naming the file and line, which the command line reports
as a usage problem (exit 2).
"""

from __future__ import annotations

import ast
import inspect
import keyword
import re
import sys
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from .base import (
    HOLE,
    Bool,
    Context,
    Float,
    Int,
    Layer,
    Shape,
    Str,
    UnitError,
    image,
    section,
    sequence,
    spec_field,
    this,
    vector,
    words,
)
from .emit import Fragment, Ref

SUFFIXES = (".py", ".yaml", ".yml")  # the kinds of block files a template's blocks/ may hold
CHANNEL_PARAMETERS = ("channels", "in_channels")
# How model.py imports the names it shares with every block (scaffold.blocks.emit.IMPORTS).
CANONICAL = {
    ("import", "math", "math"): "math",
    ("import", "torch", "torch"): "torch",
    ("from", "torch", "nn", "nn"): "nn",
    ("import", "torch.nn", "nn"): "nn",
    ("import", "torch.nn.functional", "F"): "F",
    ("from", "torch.nn", "functional", "F"): "F",
}
ALLOWED_PACKAGES = ("torch", "torchvision")  # what a generated project depends on
CONTRACT = "see examples/team-template/README.md, 'Blocks of your own'"


@dataclass
class TeamFile:
    """A block file of a template, read but not run."""

    kind: str
    path: Path
    line: int  # of the block's class (or 1), for messages
    tree: ast.Module | None = None
    source: str = ""

    def where(self, line: int | None = None) -> str:
        return f"{self.path}:{line or self.line}"


def scan(folder: Path) -> dict[str, TeamFile]:
    """kind -> file, for the block files of `folder`, read without running them. A kind written
    twice (`eca.py` and `eca.yaml`), a file whose name is no kind, a syntax error or an import a
    generated project could not make are refused here, whether or not a blueprint uses the kind."""
    found: dict[str, TeamFile] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix not in SUFFIXES or path.name.startswith(("_", ".")):
            continue
        kind = path.stem
        if not re.fullmatch(r"[a-z][a-z0-9_]*", kind) or keyword.iskeyword(kind):
            raise UnitError(
                f"{path}:1: '{kind}' cannot be a block kind: a kind is its file's name, in "
                "lower-case letters, digits and _\n"
                f"  hint: rename the file, e.g. {folder / _snake(kind)}{path.suffix}"
            )
        team_file = TeamFile(kind, path, 1)
        if path.suffix == ".py":
            _read_python(team_file)
        if kind in found:
            first = found[kind]
            raise UnitError(
                f"{team_file.where()}: the block kind '{kind}' is already defined by "
                f"{first.where()}\n  hint: keep one of the two files"
            )
        found[kind] = team_file
    return found


def _snake(name: str) -> str:
    name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()
    return re.sub(r"[^a-z0-9_]+", "_", name).strip("_") or "block"


def _read_python(team_file: TeamFile) -> None:
    path = team_file.path
    team_file.source = path.read_text(encoding="utf-8")
    try:
        tree = ast.parse(team_file.source, filename=str(path))
    except SyntaxError as error:
        raise UnitError(f"{path}:{error.lineno}: SyntaxError: {error.msg}") from None
    team_file.tree = tree
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            raise UnitError(
                f"{path}:{node.lineno}: a team block is a plain PyTorch module and cannot import "
                f"from scaffold's engine (`from {'.' * node.level}{node.module or ''} import ...`)"
                f"\n  hint: write the block as an nn.Module ({CONTRACT})"
            )
        for module in _imported_modules(node):
            top = module.split(".")[0]
            if top == "scaffold":
                raise UnitError(
                    f"{path}:{node.lineno}: a team block cannot import scaffold (`{module}`): its "
                    "code goes into generated projects, which never import scaffold\n"
                    f"  hint: write the block as a plain nn.Module ({CONTRACT})"
                )
            if top not in ALLOWED_PACKAGES and top not in sys.stdlib_module_names:
                raise UnitError(
                    f"{path}:{node.lineno}: imports {module}, which a generated project does not "
                    "depend on\n  hint: a team block may import torch, torchvision and the "
                    "standard library"
                )
    classes = [node for node in tree.body if isinstance(node, ast.ClassDef)]
    if classes:
        wanted = _all_names(tree)
        named = [node for node in classes if node.name in wanted] or classes
        team_file.line = named[-1].lineno


def _imported_modules(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom) and node.module and node.module != "__future__":
        return [node.module]
    return []


def _all_names(tree: ast.Module) -> list[str]:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            try:
                return [str(name) for name in ast.literal_eval(node.value)]
            except ValueError:
                return []
    return []


# --- running a file and making its kind -------------------------------------------------------


def load(team_file: TeamFile, package: str) -> type[Layer]:
    """The Layer class of a `.py` block file: the file run as a module of its own (named under
    `package`, the engine's blocks package, so that two engines keep their own), its block class
    found and its constructor read."""
    import torch  # a team block is a torch module: imported only when one is used

    path, tree = team_file.path, team_file.tree
    assert tree is not None
    name = f"{package}._team_{team_file.kind}"
    module = types.ModuleType(name)
    module.__file__ = str(path)
    sys.modules[name] = module
    try:
        exec(compile(tree, str(path), "exec"), module.__dict__)
    except Exception as error:
        del sys.modules[name]
        line = _line_in(error, path) or 1
        raise UnitError(
            f"{path}:{line}: the block file does not import: {type(error).__name__}: {error}"
        ) from None
    block = _block_class(team_file, module, torch.nn.Module)
    return _layer_class(team_file, block, _fragment(team_file, block))


def _line_in(error: BaseException, path: Path) -> int | None:
    """The line of `path` where `error` was raised (the innermost frame in that file)."""
    line = None
    trace = error.__traceback__
    while trace is not None:
        if Path(trace.tb_frame.f_code.co_filename) == path:
            line = trace.tb_lineno
        trace = trace.tb_next
    if line is None and isinstance(error, SyntaxError) and error.filename == str(path):
        line = error.lineno
    return line


def _block_class(team_file: TeamFile, module: types.ModuleType, base: type) -> type:
    classes = [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, base)
        and value.__module__ == module.__name__
    ]
    wanted = getattr(module, "__all__", None)
    if wanted is not None:
        classes = [cls for cls in classes if cls.__name__ in wanted]
    if len(classes) == 1:
        return classes[0]
    if not classes:
        raise UnitError(
            f"{team_file.where()}: defines no nn.Module subclass"
            + (" named in __all__" if wanted is not None else "")
            + f"\n  hint: the block is the file's nn.Module class ({CONTRACT})"
        )
    names = ", ".join(cls.__name__ for cls in classes)
    raise UnitError(
        f"{team_file.where()}: defines {len(classes)} nn.Module classes ({names}); which one is "
        f"the block '{team_file.kind}'?\n  hint: name it in the file: __all__ = "
        f'["{classes[-1].__name__}"]'
    )


@dataclass
class Parameter:
    """A constructor parameter the blueprint sets."""

    name: str
    field_type: Any
    default: Any  # inspect.Parameter.empty: required
    doc: str


TYPES = {int: Int, float: Float, bool: Bool, str: Str}


def _parameters(team_file: TeamFile, block: type) -> tuple[str | None, list[Parameter]]:
    """(the parameter that gets the input's channels, the fields) of the block's constructor."""
    where = f"{team_file.path}:{_line_of(block.__init__, team_file)}"
    signature = inspect.signature(block.__init__)
    try:
        hints = typing.get_type_hints(block.__init__)
    except Exception as error:
        raise UnitError(
            f"{where}: {block.__name__}.__init__'s annotations do not evaluate: {error}"
        ) from None
    docs = _arg_docs(block.__doc__ or "")
    positional = [
        p
        for p in list(signature.parameters.values())[1:]
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    channels = None
    if positional and positional[0].name in CHANNEL_PARAMETERS:
        channels = positional.pop(0).name
    taken = {name for cls in TeamBlock.__mro__ for name in vars(cls)} | {"name", "location", "path"}
    fields = []
    for p in positional:
        if p.kind is p.POSITIONAL_ONLY:
            raise UnitError(f"{where}: parameter {p.name} is positional-only; a field is named")
        if p.name in taken or p.name.startswith("_"):
            raise UnitError(
                f"{where}: parameter '{p.name}' cannot be a field: every layer has it already "
                f"(scaffold's own)\n  hint: rename the parameter"
            )
        hint = hints.get(p.name, type(p.default) if p.default not in (p.empty, None) else None)
        field_type = _field_type(hint)
        if field_type is None:
            if p.default is not p.empty:
                continue  # a setting the blueprint cannot give keeps its default
            raise UnitError(
                f"{where}: parameter '{p.name}' of {block.__name__} is typed {_show(hint)}, "
                "which a blueprint cannot give\n  hint: type it int, float, bool, str or one of "
                "them | None, or give it a default (the blueprint then leaves it alone)"
            )
        fields.append(Parameter(p.name, field_type, p.default, docs.get(p.name, "")))
    return channels, fields


def _field_type(hint) -> Any:
    options = (
        typing.get_args(hint)
        if typing.get_origin(hint) in (typing.Union, types.UnionType)
        else (hint,)
    )
    options = [o for o in options if o is not type(None)]
    if len(options) == 1 and options[0] in TYPES:
        return TYPES[options[0]]()
    return None


def _show(hint) -> str:
    return "nothing" if hint is None else getattr(hint, "__name__", None) or str(hint)


def _line_of(obj, team_file: TeamFile) -> int:
    try:
        return inspect.getsourcelines(obj)[1]
    except (OSError, TypeError):
        return team_file.line


def _arg_docs(doc: str) -> dict[str, str]:
    """`name (type): text` lines of a docstring's `Args:` section (Google style)."""
    docs: dict[str, str] = {}
    lines = inspect.cleandoc(doc).splitlines()
    inside, current = False, None
    for line in lines:
        if re.fullmatch(r"(Args|Arguments|Parameters):\s*", line):
            inside = True
            continue
        if not inside:
            continue
        if line and not line.startswith(" "):
            break
        match = re.fullmatch(r"\s{2,8}(\w+)(?: \([^)]*\))?: ?(.*)", line)
        if match:
            current = match.group(1)
            docs[current] = match.group(2).strip()
        elif current and line.strip():
            docs[current] += " " + line.strip()
    return docs


def _summary(doc: str) -> str:
    return " ".join(inspect.cleandoc(doc).split("\n\n")[0].split())


# --- the code model.py prints -----------------------------------------------------------------


def _fragment(team_file: TeamFile, block: type) -> Fragment:
    """The file's code as a helper of model.py: all but its docstring, its imports (model.py's
    own take them in), `__all__` and its `if __name__ == "__main__":` part."""
    tree, lines = team_file.tree, team_file.source.splitlines()
    assert tree is not None
    dropped: set[int] = set()
    uses, imports, defines = {"torch", "nn"}, [], []
    for index, node in enumerate(tree.body):
        drop = (
            (index == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))
            or isinstance(node, (ast.Import, ast.ImportFrom))
            or _is_main_guard(node)
            or (isinstance(node, ast.Assign) and _targets(node) == ["__all__"])
        )
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for canonical, line, bound in _imports(node):
                if canonical:
                    uses.add(canonical)
                else:
                    imports.append(line)
                    defines.append(bound)
        if drop:
            first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
            dropped.update(range(first, node.end_lineno + 1))
        elif isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            defines.append(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            defines.extend(_targets(node))
    kept = [line for number, line in enumerate(lines, 1) if number not in dropped]
    code = re.sub(r"\n{3,}", "\n\n\n", "\n".join(kept)).strip("\n")
    return Fragment(block.__name__, code, uses=sorted(uses), defines=defines, imports=imports)


def _is_main_guard(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.If)
        and isinstance(node.test, ast.Compare)
        and isinstance(node.test.left, ast.Name)
        and node.test.left.id == "__name__"
    )


def _targets(node: ast.Assign | ast.AnnAssign) -> list[str]:
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    return [t.id for t in targets if isinstance(t, ast.Name)]


def _imports(node: ast.Import | ast.ImportFrom) -> list[tuple[str | None, str, str]]:
    """(the name model.py already imports this as, or None; the import line; the name bound)."""
    result: list[tuple[str | None, str, str]] = []
    if isinstance(node, ast.ImportFrom):
        if node.module == "__future__":
            return []
        for alias in node.names:
            bound = alias.asname or alias.name
            key = ("from", node.module, alias.name, bound)
            line = f"from {node.module} import {alias.name}" + (
                f" as {alias.asname}" if alias.asname else ""
            )
            result.append((CANONICAL.get(key), line, bound))
        return result
    for alias in node.names:
        bound = alias.asname or alias.name
        key = ("import", alias.name, bound)
        line = f"import {alias.name}" + (f" as {alias.asname}" if alias.asname else "")
        result.append((CANONICAL.get(key), line, bound.split(".")[0]))
    return result


# --- the kind ---------------------------------------------------------------------------------


def _layer_class(team_file: TeamFile, block: type, fragment: Fragment) -> type[Layer]:
    channels, parameters = _parameters(team_file, block)
    namespace: dict[str, Any] = {
        "__doc__": _summary(block.__doc__ or "") or f"{block.__name__}, from {team_file.path}",
        "__module__": __name__,
        "__annotations__": {},
        "SHORTHAND": parameters[0].name if parameters else None,
        "NAME": team_file.kind,
        "FRAGMENTS": (fragment,),
        "MODULE": block,
        "CHANNELS": channels,
        "PARAMETERS": tuple(parameters),
        "FILE": team_file,
    }
    for p in parameters:
        default = None if p.default is inspect.Parameter.empty else p.default
        namespace["__annotations__"][p.name] = "Any"
        if p.default is inspect.Parameter.empty:
            namespace[p.name] = spec_field(p.field_type, doc=p.doc)
        else:
            namespace[p.name] = spec_field(p.field_type, default, p.doc)
    cls = types.new_class(
        f"Team_{team_file.kind}", (TeamBlock,), {}, lambda ns: ns.update(namespace)
    )
    return section(cls)


class TeamBlock(Layer):
    """A kind from a team's `blocks/NAME.py`; its subclasses are made by `load`."""

    MODULE: ClassVar[type]
    CHANNELS: ClassVar[str | None] = None
    PARAMETERS: ClassVar[tuple[Parameter, ...]] = ()
    FILE: ClassVar[TeamFile]

    def plan(self, x: Shape, ctx: Context) -> Shape:
        out, parts = self._measure(x)
        name = ctx.name(self)
        self._use(ctx)
        ctx.module(name, self._constructor(x), params=any(part.params for part in parts))
        self._rows(ctx, name, out, parts, 0)
        ctx.forward.start(this(name)(HOLE), out.comment())
        return out

    def entries(self, x: Shape, ctx: Context, prefix: str, start: int, depth: int):
        out, parts = self._measure(x)
        self._use(ctx)
        self._rows(ctx, f"{prefix}.{start}", out, parts, depth)
        return [(self._constructor(x), out)]

    def _rows(self, ctx: Context, name: str, out: Shape, parts: list[Part], depth: int) -> None:
        """The block's row, and one for each of its modules (a batch norm counts as one)."""
        if len(parts) == 1 and not parts[0].path:
            ctx.row(name, self._label(), out, parts[0].params, parts[0].macs, depth)
            return
        mark = ctx.mark()
        for part in parts:  # the block's own parameters and products: a call in forward
            module = f"{name}.{part.path}" if part.path else ""
            ctx.row(module, part.label, part.shape or out, part.params, part.macs, depth + 1)
        ctx.group(mark, name, self._label(), out, depth)

    def _use(self, ctx: Context) -> None:
        """model.py prints the file's code, whose names must not be another helper's."""
        ours = self.FRAGMENTS[0]
        for other in ctx.fragments:
            same = sorted(set(other.defines) & set(ours.defines)) if other is not ours else []
            if same:
                raise self.error(
                    f"{self.FILE.path} defines {', '.join(same)}, as does the code of another "
                    "block in this model: model.py can hold only one",
                    f"rename {same[0]} in {self.FILE.path.name}",
                )
        ctx.use(ours, by=self)

    def _arguments(self, x: Shape) -> tuple[tuple, dict[str, Any]]:
        """The constructor's arguments: the channels (an image's first dimension, else the
        last: the features), and the fields not left at their default."""
        if not self.CHANNELS:
            return (), self._given()
        return (x.dims[0] if x.kind == "image" else x.dims[-1],), self._given()

    def _given(self) -> dict[str, Any]:
        given = {}
        for p in self.PARAMETERS:
            value = getattr(self, p.name)
            if p.default is inspect.Parameter.empty or value != p.default:
                given[p.name] = value
        return given

    def _constructor(self, x: Shape):
        args, kwargs = self._arguments(x)
        return Ref(self.MODULE.__name__)(*args, **kwargs)

    def _label(self) -> str:
        return " ".join([self.KIND, *(f"{k}={v}" for k, v in self._given().items())])

    def _measure(self, x: Shape) -> tuple[Shape, list[Part]]:
        args, kwargs = self._arguments(x)
        key = (type(self), x, args, tuple(kwargs.items()))
        if key not in _MEASURED:
            _MEASURED[key] = self._run(x, args, kwargs)
        result = _MEASURED[key]
        if isinstance(result, Failure):
            raise self.error(result.message, result.hint)
        return result

    def _run(self, x: Shape, args: tuple, kwargs: dict) -> tuple[Shape, list[Part]] | Failure:
        """Build the block on the meta device and run it on one sample of shape `x`."""
        import torch
        from torch.utils.flop_counter import FlopCounterMode

        call = self._constructor(x).code()
        path = self.FILE.path
        with torch.device("meta"):
            try:
                module = self.MODULE(*args, **kwargs).eval()
            except Exception as error:
                return self._failed(f"{call} fails: {type(error).__name__}: {error}", error)
            shapes: dict[str, tuple] = {}
            for name, sub in module.named_modules():
                sub.register_forward_hook(_record(shapes, name))
            dtype = torch.long if x.kind == "tokens" else torch.float32
            sample = torch.empty((1, *x.dims), dtype=dtype)
            try:
                with torch.no_grad(), FlopCounterMode(display=False) as counter:
                    y = module(sample)
            except Exception as error:
                return self._failed(
                    f"{call} fails on {x.describe()} {x.comment()}: "
                    f"{type(error).__name__}: {error}",
                    error,
                )
        out = _shape(shapes.get(""), x)
        if out is None:
            what = f"shape {tuple(y.shape)}" if isinstance(y, torch.Tensor) else type(y).__name__
            return Failure(
                f"{call} returns {what}; a block returns one tensor of shape (N, C, H, W), "
                "(N, L, F) or (N, F)",
                f"see {path}",
            )
        flops = {name: sum(ops.values()) for name, ops in counter.get_flop_counts().items()}
        return out, _parts(module, flops, shapes, x, self.KIND)

    def _failed(self, message: str, error: Exception) -> Failure:
        line = _line_in(error, self.FILE.path)
        return Failure(message, f"raised at {self.FILE.path}:{line}" if line else "")


@dataclass(frozen=True)
class Part:
    """A module of a block (its path in the block, "" for the block's own code), as a row."""

    path: str
    label: str
    shape: Shape | None
    params: int
    macs: int


def _record(shapes: dict[str, tuple], name: str):
    def hook(module, inputs, output) -> None:
        if hasattr(output, "shape"):
            shapes.setdefault(name, tuple(output.shape))

    return hook


def _shape(shape: tuple | None, x: Shape) -> Shape | None:
    """A per-sample Shape for a module's output of shape (1, ...)."""
    if shape is None or len(shape) < 2 or shape[0] != 1:
        return None
    dims = shape[1:]
    if len(dims) == 3:
        return image(*dims)
    if len(dims) == 1:
        return vector(*dims)
    if len(dims) == 2:
        return words(*dims) if x.kind == "words" else sequence(*dims)
    return None


def _parts(module, flops: dict[str, int], shapes: dict[str, tuple], x: Shape, kind: str):
    """A row for each module of the block that has parameters or products of its own, and for
    every module without submodules (batch norm, dropout, activations)."""
    from torch import nn

    root = type(module).__name__

    def counted(name: str) -> int:
        return flops.get(f"{root}.{name}" if name else root, 0)

    parts = []
    for name, sub in module.named_modules():
        children = [f"{name}.{child}" if name else child for child, _ in sub.named_children()]
        params = sum(p.numel() for p in sub.parameters(recurse=False))
        macs = (counted(name) - sum(counted(child) for child in children)) // 2
        if children and not params and not macs:
            continue
        if isinstance(sub, nn.modules.batchnorm._BatchNorm):
            label = "batch norm"
        elif isinstance(sub, nn.modules.dropout._DropoutNd):
            label = f"dropout {sub.p}"
        elif not name:
            label = kind
        else:
            label = type(sub).__name__
        parts.append(Part(name, label, _shape(shapes.get(name), x), params, macs))
    return parts


@dataclass(frozen=True)
class Failure:
    """Why a block does not run on an input: each use that fails reports it at its own place."""

    message: str
    hint: str


# (kind class, input shape, arguments) -> (output, the rows of its modules) or the problem:
# the plan walks a model several times (the image sizes it accepts), running each use once.
_MEASURED: dict[tuple, Any] = {}
