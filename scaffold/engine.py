"""The engine of a template: the blueprint reader, planner and project values it renders with.

Every template version carries its own engine: the `scaffold/` package at the template's root,
which copier.yml names through `scaffold/copier_extension.py:ScaffoldExtension`. What a project
contains is decided by the engine of the template version it is rendered from, never by the
installed scaffold (copier's issue #1170). So the command line reads and checks a blueprint for
a template (`new`, `validate` and `inspect` with `--template`, `update --blueprint`) with that
template's engine too:

- the bundled template of a checkout is this running package;
- the installed scaffold's bundled template repository is this running package when its engine
  files are the same as the installed ones (the usual case), and a loaded copy otherwise;
- any other checkout (a team's fork, a clone of a URL at some version) is its own `scaffold/`,
  loaded under a name of its own (copier_extension.load_engine);
- a template version from before engines travelled with templates (copier.yml names the dotted
  `scaffold.jinja_ext.ScaffoldExtension`) renders with the installed package, as copier does;
- so does the plain copy of the template in a package built without git (`_template/`).

An engine's errors are its own classes; `Engine` turns them into this package's, so the command
line reports them as it reports its own.
"""

from __future__ import annotations

import importlib
import sys
from contextlib import contextmanager
from functools import cache
from pathlib import Path, PurePosixPath
from types import ModuleType

from .errors import BlueprintError, UsageError

PACKAGE_DIR = Path(__file__).resolve().parent
EXTENSION_CLASS = "ScaffoldExtension"
# the extensions copier.yml may load from the engine's own file (a template version names those
# it has: versions before the context hook have ScaffoldExtension only)
ENGINE_EXTENSIONS = (EXTENSION_CLASS, "ScaffoldContext")
# copier-template-extensions' loader: lets copier.yml name extensions by a path in the template
PATH_LOADER = "copier_template_extensions.TemplateExtensionLoader"


def running_package() -> ModuleType:
    return sys.modules[__package__]


class Engine:
    """A template's engine: `package` is a `scaffold` package (this one, or a template
    checkout's copy under its own name); `root` is the template's root (copier.yml), where a
    team's template keeps what it adds. (A plain class: as a dataclass, generating its code took
    a good part of this module's import.)"""

    def __init__(self, root: Path | None, package: ModuleType) -> None:
        self.root, self.package = root, package

    def __repr__(self) -> str:
        return f"Engine(root={self.root!r}, package={self.package!r})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return (self.root, self.package) == (other.root, other.package)

    def __hash__(self) -> int:
        return hash((self.root, self.package))

    @property
    def isolated(self) -> bool:
        return self.package is not running_package()

    def module(self, name: str) -> ModuleType:
        return importlib.import_module(f"{self.package.__name__}.{name}")

    @property
    def extension(self) -> type:
        """The Jinja extension class copier loads for this template."""
        return self.module("jinja_ext").ScaffoldExtension

    @property
    def version(self) -> str:
        return getattr(self.package, "__version__", "")

    def load(self, path: Path):
        """Read and check a blueprint file: (blueprint, plan), or this package's
        BlueprintError."""
        with self.errors_translated():
            blueprint = self.module("blueprint").load_blueprint(path)
            return blueprint, self.module("plan").build_plan(blueprint)

    def check(self, blueprint):
        """(blueprint, plan) for a blueprint read by any engine, checked by this one (from its
        plain data when another engine read it)."""
        with self.errors_translated():
            if not isinstance(blueprint, self.module("blueprint").Blueprint):
                blueprint = self.module("blueprint").blueprint_from_data(blueprint.raw)
            return blueprint, self.module("plan").build_plan(blueprint)

    def check_data(self, data: dict, file: str):
        with self.errors_translated():
            blueprint = self.module("blueprint").blueprint_from_data(data, file)
            return blueprint, self.module("plan").build_plan(blueprint)

    def advice(self, blueprint) -> list:
        """Suggestions on a valid blueprint; none from a template version that gives none."""
        try:
            module = self.module("advice")
        except ModuleNotFoundError:
            return []
        return module.advice(blueprint)

    def inspect_table(self, blueprint, plan) -> str:
        return self.module("report").inspect_table(blueprint, plan)

    def package_name_for(self, dest_name: str) -> str:
        return self.module("project").package_name_for(dest_name)

    def package_problem(self, name: str) -> str:
        return self.module("project").package_problem(name)

    @contextmanager
    def errors_translated(self):
        if not self.isolated:
            yield
            return
        errors = self.module("errors")
        try:
            yield
        except errors.BlueprintError as error:
            raise BlueprintError(list(error.problems)) from None
        except errors.UsageError as error:
            raise UsageError(str(error)) from None


def running(root: Path | None = None) -> Engine:
    return Engine(root, running_package())


def engine_extension_path(config: dict) -> PurePosixPath | None:
    """The path (relative to the template root) of the file copier.yml loads the scaffold
    extension from, or None when it names the installed package's (a dotted name)."""
    for entry in config.get("_jinja_extensions", None) or []:
        if not isinstance(entry, str) or ":" not in entry:
            continue
        path, name = entry.split(":", 1)
        if name == EXTENSION_CLASS and path.endswith(".py"):
            return PurePosixPath(path)
    return None


def engine_for(root: Path, config: dict, same_as_running: bool = False) -> Engine:
    """The engine that renders the template at `root` (whose copier.yml is `config`).

    `same_as_running`: the template is the installed scaffold's own bundled repository, whose
    engine is this package unless its files differ (a wheel built from uncommitted changes)."""
    from .copier_extension import fingerprint, load_engine
    from .resources import PACKAGED

    relative = engine_extension_path(config)
    if relative is None:
        return running(root)  # an old template version: copier renders it with the installed one
    if Path(root).resolve() == PACKAGED:
        return running(root)  # the installed package's own plain copy of its template
    folder = (Path(root) / relative).parent.resolve()
    if folder == PACKAGE_DIR:
        return running(root)
    if not (folder / "__init__.py").is_file():
        raise UsageError(
            f"{root}: copier.yml loads the template's engine from {relative}, but "
            f"{folder} is not a Python package\n"
            "  hint: a scaffold template keeps scaffold's `scaffold/` folder at its root"
        )
    if same_as_running and fingerprint(folder) == _running_fingerprint():
        return running(root)
    try:
        return Engine(root, load_engine(folder))
    except Exception as error:
        raise UsageError(
            f"cannot load the template's engine from {folder}: {type(error).__name__}: {error}"
        ) from None


@cache
def _running_fingerprint() -> str:
    from .copier_extension import fingerprint

    return fingerprint(PACKAGE_DIR)
