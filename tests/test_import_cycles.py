"""No import cycles among scaffold's modules: the import statements of scaffold/, read with ast,
form no cycle. An import written inside a function (run when called, not when the module loads)
may close one only where it is listed below with the reason it must; the registry imports the
units it names by their names (importlib), not by import statements (see its docstring)."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import REPO

PACKAGE = REPO / "scaffold"

# (importer, imported): an import inside a function that closes a cycle, and why it must
IN_FUNCTIONS = {
    ("scaffold.blocks.compose", "scaffold.blocks.sequential"): (
        "kinds that hold each other: a residual's body or a branch is planned as a group "
        "(sequential), and a group holds residuals and branches"
    ),
}


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        if "_template" in parts:
            continue
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> list[tuple[str, bool]]:
    """(module imported, whether inside a function) for each import of scaffold's own modules,
    leaving out those only for type checkers (`if TYPE_CHECKING:`)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            inside = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    up = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join(up + ([child.module] if child.module else []))
                for alias in child.names:
                    full = f"{base}.{alias.name}"
                    target = full if full in modules else base
                    if target in modules and target != name:
                        found.append((target, inside))
            elif isinstance(child, ast.Import):
                found.extend((a.name, inside) for a in child.names if a.name in modules)
            visit(child, inside)

    visit(ast.parse(path.read_text(encoding="utf-8")), False)
    return found


def _graph(with_functions: bool, allowed=IN_FUNCTIONS) -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for target, in_function in _imports(name, path, modules):
            if with_functions or not in_function:
                if not (in_function and (name, target) in allowed):
                    graph[name].add(target)
    return graph


def _a_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return path[path.index(target) :] + [target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_modules_import_each_other_without_a_cycle():
    cycle = _a_cycle(_graph(with_functions=False))
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_imports_inside_functions_close_no_cycle_but_the_listed_ones():
    cycle = _a_cycle(_graph(with_functions=True))
    assert cycle is None, (
        "import cycle through an import inside a function: "
        + " -> ".join(cycle or [])
        + "\n  hint: import at the top of a module that is below the other, or pass what is "
        "needed in; list it in IN_FUNCTIONS with the reason only if it must stay"
    )
    modules = _modules()
    inside = {
        (name, target)
        for name, path in modules.items()
        for target, in_function in _imports(name, path, modules)
        if in_function
    }
    assert set(IN_FUNCTIONS) <= inside, "a listed import is gone: remove it from IN_FUNCTIONS"
    for edge in IN_FUNCTIONS:  # each listed only where it does close a cycle
        assert _a_cycle(_graph(True, set(IN_FUNCTIONS) - {edge})), f"{edge} closes no cycle now"


def test_the_graph_is_read_right():
    """The reader finds what the modules import (a check of the check)."""
    graph = _graph(with_functions=True)
    assert "scaffold.blocks.registry" in graph["scaffold.blocks.base"]
    assert "scaffold.blocks.base" not in graph["scaffold.blocks.registry"]
    assert "scaffold.pretrained" in graph["scaffold.plan"]
    assert "scaffold.plan" not in graph["scaffold.pretrained"]
    assert "scaffold.errors" in graph["scaffold.blocks.registry"]
    assert _a_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
