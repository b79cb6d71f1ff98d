"""Finding the units: the built-in ones in this package, and a template's own in its `blocks/`.

A team adds a block kind by putting a unit file in `blocks/` at the root of its template fork
(beside `copier.yml`), with no change to the engine: `blocks/eca.py` is loaded as the submodule
`eca` of this package, so it imports what it needs with `from .base import ...` exactly as a
built-in unit does, whatever name the engine itself was loaded under. The template root is the
folder above the engine's package, and only counts as one if it holds a `copier.yml`, so an
installed engine (in site-packages) never picks up an unrelated `blocks/` folder.

A unit's module is imported when a blueprint first uses one of its kinds: the kinds are found
by reading the `@unit("kind", "alias", ...)` lines of the unit files, so that `scaffold validate`
does not import (or, without bytecode, compile) two dozen modules to read three kinds. Whatever
that reading misses is still found: a word it does not know imports every unit before it is
called unknown, and `load_units()` (the schema, `scaffold list`-like uses) imports them all.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

from .base import ALIASES, LAYERS, ORIGIN, Layer, UnitError

PACKAGE_DIR = Path(__file__).resolve().parent
PACKAGE = __name__.rpartition(".")[0]
NOT_UNITS = {"__init__", "base", "emit", "registry", "defined"}
UNIT_LINE = re.compile(r"^@unit\(([^)]*)\)", re.M)
WORD = re.compile(r"""["']([^"']+)["']""")


def template_blocks_dir() -> Path | None:
    """The template's own `blocks/` folder, if the engine sits in a template root that has one."""
    root = PACKAGE_DIR.parent.parent
    folder = root / "blocks"
    if (root / "copier.yml").is_file() and folder.is_dir():
        return folder
    return None


class _Registry(Mapping):
    """kind -> unit class, importing a unit's module when one of its kinds is first asked for."""

    def __init__(self) -> None:
        self._index: dict[str, Path] | None = None  # kind -> its unit file
        self.aliases: dict[str, str] = {}
        self._imported: set[Path] = set()
        self._complete = False

    def index(self) -> dict[str, Path]:
        if self._index is None:
            self._index = {}
            files = [p for p in sorted(PACKAGE_DIR.glob("*.py")) if p.stem not in NOT_UNITS]
            folder = template_blocks_dir()
            if folder is not None:
                files += [p for p in sorted(folder.glob("*.py")) if not p.stem.startswith("_")]
            for path in files:
                for line in UNIT_LINE.finditer(path.read_text(encoding="utf-8")):
                    kind, *aliases = WORD.findall(line.group(1))
                    self._index.setdefault(kind, path)
                    for alias in aliases:
                        self.aliases.setdefault(alias, kind)
            if folder is not None:  # blocks written in the blueprint language, one per file
                for path in sorted(folder.glob("*.yaml")):
                    self._index.setdefault(path.stem, path)
        return self._index

    def _import(self, path: Path) -> None:
        if path in self._imported:
            return
        self._imported.add(path)
        if path.parent == PACKAGE_DIR:
            importlib.import_module(f"{PACKAGE}.{path.stem}")
        elif path.suffix == ".yaml":
            _load_template_yaml(path)
        else:
            _load_template_unit(path)

    def load_all(self) -> None:
        if not self._complete:
            self._complete = True
            for path in dict.fromkeys(self.index().values()):
                self._import(path)
            files = [p for p in sorted(PACKAGE_DIR.glob("*.py")) if p.stem not in NOT_UNITS]
            folder = template_blocks_dir()
            if folder is not None:  # files whose kinds the index could not read
                files += [p for p in sorted(folder.glob("*.py")) if not p.stem.startswith("_")]
            for path in files:
                self._import(path)
            self.aliases.update(ALIASES)

    def __contains__(self, kind: object) -> bool:
        if not isinstance(kind, str):
            return False
        path = self.index().get(kind)
        if path is not None:
            self._import(path)
        elif kind not in self.aliases:  # not a word the index knows: look everywhere first
            self.load_all()
        return kind in LAYERS

    def __getitem__(self, kind: str) -> type[Layer]:
        if kind not in self:
            raise KeyError(kind)
        return LAYERS[kind]

    def __iter__(self) -> Iterator[str]:
        self.load_all()
        ordered = [kind for kind in self.index() if kind in LAYERS]
        return iter(ordered + [kind for kind in LAYERS if kind not in ordered])

    def __len__(self) -> int:
        self.load_all()
        return len(LAYERS)


REGISTRY = _Registry()


def _load_template_unit(path: Path) -> None:
    """A template's unit file, as the submodule `path.stem` of this package."""
    if (PACKAGE_DIR / path.name).exists():
        raise UnitError(
            f"{path}: a template's block file cannot be named like the built-in module "
            f"{path.name}; rename it"
        )
    name = f"{PACKAGE}.{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise UnitError(f"{path}: cannot be loaded as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except UnitError:
        raise
    except Exception as error:
        del sys.modules[name]
        raise UnitError(f"{path}: {type(error).__name__}: {error}") from error


def _load_template_yaml(path: Path) -> None:
    """A template's block written in the blueprint language (`blocks/NAME.yaml`)."""
    from ..errors import BlueprintError
    from .defined import read_block_file

    kind = path.stem
    if kind in LAYERS or kind in ALIASES:
        raise UnitError(f"{path}: the block kind '{kind}' is already defined by {ORIGIN[kind]}")
    try:
        cls = read_block_file(path)
    except BlueprintError as error:
        raise UnitError(str(error)) from None
    LAYERS[kind] = cls
    ORIGIN[kind] = str(path)


def load_units() -> Mapping[str, type[Layer]]:
    """Every unit, imported (built-in first, then the template's own); kind -> class."""
    REGISTRY.load_all()
    return REGISTRY


def aliases() -> dict[str, str]:
    """Other words for the kinds (`fc` for `linear`), as far as they are known."""
    REGISTRY.index()
    return REGISTRY.aliases
