"""Finding the units: the built-in ones in this package, and a template's own in its `blocks/`.

A team adds a block kind by putting a file in `blocks/` at the root of its template (beside
`copier.yml`), with no change to the engine: `blocks/eca.py`, a plain PyTorch module, is the kind
`eca` (see `team` for the contract). The template root is the folder above the engine's package,
and only counts as one if it holds a `copier.yml`, so an installed engine (in site-packages) never
picks up an unrelated `blocks/` folder. A team's kind may not take a built-in kind's word (`se`,
`squeeze_excitation`), and one word is one file: each mistake is one error naming the file and
line.

A unit's module is imported when a blueprint first uses one of its kinds: the built-in kinds are
found by reading the `@unit("kind", "alias", ...)` lines of the unit files, and a team's by the
names of its files, so that `scaffold validate` does not import (or, without bytecode, compile)
two dozen modules to read three kinds, nor torch for a blueprint without a team's block. Whatever
that reading misses is still found: a word it does not know imports every built-in unit before it
is called unknown, and `load_units()` (the schema) imports them all. A team's files run only in
`load_team_block`, the one place that runs a template's block code.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from .base import ALIASES, LAYERS, ORIGIN, Layer, UnitError

if TYPE_CHECKING:  # imported where a template has blocks: it reads Python, and runs torch
    from .team import TeamFile

PACKAGE_DIR = Path(__file__).resolve().parent
PACKAGE = __name__.rpartition(".")[0]
NOT_UNITS = {"__init__", "base", "emit", "registry", "team", "defined", "expressions"}
UNIT_LINE = re.compile(r"^@unit\(([^)]*)\)", re.M)
WORD = re.compile(r"""["']([^"']+)["']""")


def template_blocks_dir() -> Path | None:
    """The template's own `blocks/` folder, if the engine sits in a template root that has one."""
    root = PACKAGE_DIR.parent.parent
    folder = root / "blocks"
    if (root / "copier.yml").is_file() and folder.is_dir():
        return folder
    return None


def load_team_block(team_file: TeamFile) -> type[Layer]:
    """Run a template's block file and register its kind: the one place a team's block code
    runs (a check that the template is trusted belongs in front of it)."""
    if team_file.path.suffix == ".py":
        from .team import load

        cls = load(team_file, PACKAGE)
    else:  # a block written in the blueprint language (blocks/NAME.yaml)
        from ..errors import BlueprintError
        from .defined import read_block_file

        try:
            cls = read_block_file(team_file.path)
        except BlueprintError as error:
            raise UnitError(str(error)) from None
    cls.KIND = team_file.kind
    LAYERS[team_file.kind] = cls
    ORIGIN[team_file.kind] = str(team_file.path)
    return cls


class _Registry(Mapping):
    """kind -> unit class, importing a unit's module when one of its kinds is first asked for."""

    def __init__(self) -> None:
        self._index: dict[str, Path] | None = None  # built-in kind -> its unit file
        self.team: dict[str, TeamFile] = {}  # a template's kind -> its file
        self.aliases: dict[str, str] = {}
        self._imported: set[Path] = set()
        self._builtins_loaded = False

    def index(self) -> dict[str, Path]:
        if self._index is None:
            index: dict[str, Path] = {}
            for path in _unit_files():
                for line in UNIT_LINE.finditer(path.read_text(encoding="utf-8")):
                    kind, *aliases = WORD.findall(line.group(1))
                    index.setdefault(kind, path)
                    for alias in aliases:
                        self.aliases.setdefault(alias, kind)
            folder = template_blocks_dir()
            found = {}
            if folder is not None:
                from .team import scan

                found = scan(folder)
            for kind, team_file in found.items():
                builtin = index.get(kind) or index.get(self.aliases.get(kind, ""))
                if builtin is not None:
                    what = "kind" if kind in index else f"other word for '{self.aliases[kind]}'"
                    raise UnitError(
                        f"{team_file.where()}: the block kind '{kind}' is already defined by "
                        f"scaffold (a built-in {what}, {builtin.name}); a team's block cannot "
                        f"replace it\n  hint: rename {team_file.path.name}, e.g. to "
                        f"team_{kind}{team_file.path.suffix}"
                    )
            self.team = found
            self._index = index
        return self._index

    def _import(self, path: Path) -> None:
        if path not in self._imported:
            self._imported.add(path)
            importlib.import_module(f"{PACKAGE}.{path.stem}")

    def _load_builtins(self) -> None:
        """Every built-in unit, also one whose kinds the index could not read."""
        if not self._builtins_loaded:
            self._builtins_loaded = True
            self.index()  # the words in the files' order first, whatever was imported before
            for path in _unit_files():
                self._import(path)
            self.aliases.update(ALIASES)

    def load_all(self) -> None:
        self._load_builtins()
        for kind in self.team:
            self._load_team(kind)

    def _load_team(self, kind: str) -> None:
        if kind not in LAYERS:
            load_team_block(self.team[kind])

    def __contains__(self, kind: object) -> bool:
        if not isinstance(kind, str):
            return False
        if self._index is not None and kind in LAYERS:  # imported already (every layer read asks)
            return True
        index = self.index()
        if kind in index:
            self._import(index[kind])
        elif kind in self.team:
            self._load_team(kind)
        elif kind not in self.aliases:  # not a word the index knows: look everywhere first
            self._load_builtins()
        return kind in LAYERS

    def __getitem__(self, kind: str) -> type[Layer]:
        if kind not in self:
            raise KeyError(kind)
        return LAYERS[kind]

    def __iter__(self) -> Iterator[str]:
        """Every kind, built-in first; a team's kinds without running their files."""
        self._load_builtins()
        ordered = [kind for kind in self.index() if kind in LAYERS]
        ordered += [kind for kind in LAYERS if kind not in ordered and kind not in self.team]
        return iter(ordered + list(self.team))

    def __len__(self) -> int:
        return len(list(iter(self)))


def _unit_files() -> list[Path]:
    return [p for p in sorted(PACKAGE_DIR.glob("*.py")) if p.stem not in NOT_UNITS]


REGISTRY = _Registry()


def load_units() -> Mapping[str, type[Layer]]:
    """Every unit, imported (built-in first, then the template's own); kind -> class."""
    REGISTRY.load_all()
    return REGISTRY


def aliases() -> dict[str, str]:
    """Other words for the kinds (`fc` for `linear`), as far as they are known."""
    REGISTRY.index()
    return REGISTRY.aliases
