"""The block kinds: which module defines each one, and the classes registered so far.

The registry owns its table, as torchvision's `register_model` owns its `BUILTIN_MODELS`:

- `BUILTIN` below is every built-in kind, the unit module in this package that defines it, and its
  other words (`fc` for `linear`), in the order the schema and the "known layers" list show them.
  A unit module registers its classes with `@unit("kind", "alias", ...)` (blocks/base.py), which
  calls `REGISTRY.register`; a kind that is not in the table, or that another module's line
  names, is refused when its module is imported, and tests/test_registry.py imports every unit
  module and compares what they register with the table (a new unit file without its line fails
  there, with the line to add).
- The table is read, never the modules: a unit's module is imported when a blueprint first uses
  one of its kinds, so that `scaffold validate` imports (or, without bytecode, compiles) the
  three units a blueprint uses rather than all of them, nor torch for a blueprint without a
  team's block. `load_units()` (the schema, the "known layers" list) imports them all.
- A team adds a block kind by putting a file in `blocks/` at the root of its template (beside
  `copier.yml`), with no change to the engine: `blocks/eca.py`, a plain PyTorch module, is the
  kind `eca` (see `team` for the contract). The template root is the folder above the engine's
  package, and only counts as one if it holds a `copier.yml`, so an installed engine (in
  site-packages) never picks up an unrelated `blocks/` folder. A team's kind may not take a
  built-in kind's word (`se`, `squeeze_excitation`), and one word is one file: each mistake is
  one error naming the file and line. A team's files run only in `load_team_block`, the one place
  that runs a template's block code.

This module imports no other module of the package by an import statement: it names the modules
that define kinds (its table, a template's block files) and imports them by name when a kind is
first asked for (`_module`), so that the modules it loads can import it (base.py's `@unit` does)
without an import cycle (tests/test_import_cycles.py).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from ..errors import BlueprintError, UsageError

if TYPE_CHECKING:  # for the annotations only: base and team import this module
    from .base import Layer
    from .team import TeamFile

PACKAGE_DIR = Path(__file__).resolve().parent
PACKAGE = __name__.rpartition(".")[0]

# kind, the unit module (in this package) that defines it, its other words; in this order in the
# schema and in the list of known layers (by module, as the files are sorted, then as written)
BUILTIN: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("relu", "activation", ()),
    ("relu6", "activation", ()),
    ("elu", "activation", ()),
    ("gelu", "activation", ()),
    ("silu", "activation", ("swish",)),
    ("tanh", "activation", ()),
    ("sigmoid", "activation", ()),
    ("hardswish", "activation", ("hard_swish",)),
    ("hardsigmoid", "activation", ("hard_sigmoid",)),
    ("leaky_relu", "activation", ()),
    ("auxiliary", "auxiliary", ()),
    ("basic_conv2d", "basic_conv2d", ()),
    ("batch_norm", "batch_norm", ("bn", "batchnorm", "batch_norm2d", "batchnorm2d")),
    ("bilinear_pool", "bilinear_pool", ("bilinear",)),
    ("bneck", "bneck", ()),
    ("residual", "compose", ()),
    ("branches", "compose", ("parallel",)),
    ("repeat", "compose", ()),
    ("conv", "conv", ("conv2d", "convolution")),
    ("dropout", "dropout", ()),
    ("embedding", "embedding", ()),
    ("flatten", "flatten", ()),
    ("inverted_residual", "inverted_residual", ()),
    ("linear", "linear", ("fc", "dense")),
    ("lstm", "lstm", ()),
    ("layer_norm", "norm", ("layernorm", "ln")),
    ("group_norm", "norm", ("groupnorm", "gn")),
    ("partition_attention", "partition_attention", ()),
    ("patch_merging", "patch_merging", ()),
    ("flatten_patches", "patch_tokens", ("patches",)),
    ("class_token", "patch_tokens", ()),
    ("position_embedding", "patch_tokens", ("pos_embedding",)),
    ("select_token", "patch_tokens", ()),
    ("maxpool", "pool", ("max_pool", "maxpool2d", "M")),
    ("avgpool", "pool", ("avg_pool", "avgpool2d")),
    ("adaptive_avgpool", "pool", ("adaptive_avg_pool", "adaptiveavgpool2d")),
    ("global_avgpool", "pool", ("global_avg_pool", "gap")),
    ("project_regions", "project_regions", ("regions",)),
    ("reduce", "reduce", ()),
    ("renormalize", "renormalize", ()),
    ("permute", "reshape", ()),
    ("channel_shuffle", "reshape", ()),
    ("chunk", "reshape", ()),
    ("self_attention", "self_attention", ("multihead_attention",)),
    ("sequential", "sequential", ("group",)),
    ("squeeze_excitation", "squeeze_excitation", ("se",)),
    ("stacked_attention", "stacked_attention", ("attention",)),
    ("stage", "stage", ("residual_stage",)),
    ("stem", "stem", ()),
    ("text_cnn", "text_cnn", ("question_cnn",)),
    ("vgg", "vgg", ()),
    ("window_attention", "window_attention", ()),
)

# the modules of this package that define no kind (every other one is a unit module)
NOT_UNITS = frozenset({"__init__", "base", "emit", "registry", "team", "defined", "expressions"})


class UnitError(UsageError):
    """A unit that cannot be loaded: a template's own block with a mistake in it (the command
    line reports it as a usage problem, exit code 2, not as a bug in scaffold)."""


def table_line(kind: str, module: str, aliases: tuple[str, ...]) -> str:
    """A line of BUILTIN, as it is written there."""
    return f"({kind!r}, {module!r}, {aliases!r}),".replace("'", '"')


def _module(name: str) -> ModuleType:
    """A module of this package, imported by name (see the module's docstring)."""
    return importlib.import_module(f"{PACKAGE}.{name}")


def template_blocks_dir() -> Path | None:
    """The template's own `blocks/` folder, if the engine sits in a template root that has one."""
    root = PACKAGE_DIR.parent.parent
    folder = root / "blocks"
    if (root / "copier.yml").is_file() and folder.is_dir():
        return folder
    return None


class Registry(Mapping):
    """kind -> unit class, importing a unit's module when one of its kinds is first asked for."""

    def __init__(self, table: tuple[tuple[str, str, tuple[str, ...]], ...]) -> None:
        self.modules: dict[str, str] = {kind: module for kind, module, _ in table}
        self.aliases: dict[str, str] = {
            alias: kind for kind, _, aliases in table for alias in aliases
        }
        self.table_aliases: dict[str, tuple[str, ...]] = {kind: a for kind, _, a in table}
        self.classes: dict[str, type[Layer]] = {}
        self.origin: dict[str, str] = {}  # kind -> the file that defines it, for messages
        self._team: dict[str, TeamFile] | None = None  # a template's kind -> its file
        self._all_loaded = False

    # --- what a unit module calls (through @unit) ---------------------------------------------

    def register(self, kind: str, aliases: tuple[str, ...], cls: type[Layer], where: str) -> None:
        """Record `cls` as the built-in kind `kind`, as the table says it is."""
        module = cls.__module__.rpartition(".")[2]
        for word in (kind, *aliases):
            if word in self.classes:
                raise UnitError(
                    f"{where}: the block kind '{word}' is already defined by {self.origin[word]}"
                )
        if (self.modules.get(kind), self.table_aliases.get(kind)) != (module, aliases):
            raise UnitError(
                f"{where}: the block kind '{kind}' is not in registry.py's table as its unit "
                f"registers it\n  hint: add (or correct) its line in BUILTIN in {__file__}:\n"
                f"    {table_line(kind, module, aliases)}"
            )
        self.classes[kind] = cls
        self.origin[kind] = where

    # --- finding a kind -------------------------------------------------------------------------

    def find(self, kind: str) -> type[Layer] | None:
        """The class of the kind `kind`, loading its unit (or a team's file) the first time; None
        for a word that is no kind (an alias is not one: see `aliases`). The one lookup."""
        cls = self.classes.get(kind)
        if cls is not None:
            return cls
        team = self.team  # read at the first lookup, whatever the kind: its mistakes are found
        if kind in self.modules:
            _module(self.modules[kind])
        elif kind in team:
            load_team_block(team[kind])
        return self.classes.get(kind)

    @property
    def team(self) -> dict[str, TeamFile]:
        """The template's own kinds and their files, read (not run) when first asked for."""
        if self._team is None:
            folder = template_blocks_dir()
            self._team = {} if folder is None else self._checked(_module("team").scan(folder))
        return self._team

    def _checked(self, found: dict[str, TeamFile]) -> dict[str, TeamFile]:
        for kind, team_file in found.items():
            builtin = self.modules.get(kind) or self.modules.get(self.aliases.get(kind, ""))
            if builtin is not None:
                what = "kind" if kind in self.modules else f"other word for '{self.aliases[kind]}'"
                raise UnitError(
                    f"{team_file.where()}: the block kind '{kind}' is already defined by "
                    f"scaffold (a built-in {what}, {builtin}.py); a team's block cannot "
                    f"replace it\n  hint: rename {team_file.path.name}, e.g. to "
                    f"team_{kind}{team_file.path.suffix}"
                )
        return found

    def builtin_words(self) -> set[str]:
        """Every built-in kind and other word, without importing anything."""
        return set(self.modules) | set(self.aliases)

    def load_all(self) -> None:
        """Every unit imported, and the template's blocks loaded."""
        if not self._all_loaded:
            for module in dict.fromkeys(self.modules.values()):
                _module(module)
            for kind in self.team:
                self.find(kind)
            self._all_loaded = True

    # --- the Mapping a blueprint's layers are read with -----------------------------------------

    def __contains__(self, kind: object) -> bool:
        return isinstance(kind, str) and self.find(kind) is not None

    def __getitem__(self, kind: str) -> type[Layer]:
        cls = self.find(kind) if isinstance(kind, str) else None
        if cls is None:
            raise KeyError(kind)
        return cls

    def __iter__(self) -> Iterator[str]:
        """Every kind, the built-in ones in the table's order, then a team's (without running
        their files)."""
        for kind in self.modules:
            self.find(kind)
        yield from self.modules
        yield from self.team

    def __len__(self) -> int:
        return len(self.modules) + len(self.team)


def load_team_block(team_file: TeamFile) -> type[Layer]:
    """Run a template's block file and register its kind: the one place a team's block code
    runs (a check that the template is trusted belongs in front of it)."""
    if team_file.path.suffix == ".py":
        cls = _module("team").load(team_file, PACKAGE)
    else:  # a block written in the blueprint language (blocks/NAME.yaml)
        try:
            cls = _module("defined").read_block_file(team_file.path)
        except BlueprintError as error:
            raise UnitError(str(error)) from None
    cls.KIND = team_file.kind
    REGISTRY.classes[team_file.kind] = cls
    REGISTRY.origin[team_file.kind] = str(team_file.path)
    return cls


REGISTRY = Registry(BUILTIN)


def load_units() -> Mapping[str, type[Layer]]:
    """Every unit, imported (built-in first, then the template's own); kind -> class."""
    REGISTRY.load_all()
    return REGISTRY


def aliases() -> dict[str, str]:
    """Other words for the kinds (`fc` for `linear`): the table's, whatever is imported."""
    return REGISTRY.aliases
