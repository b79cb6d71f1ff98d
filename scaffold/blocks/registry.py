"""Finding the units: the built-in ones in this package, and a template's own in its `blocks/`.

A team adds a block kind by putting a unit file in `blocks/` at the root of its template fork
(beside `copier.yml`), with no change to the engine: `blocks/eca.py` is loaded as the submodule
`eca` of this package, so it imports what it needs with `from .base import ...` exactly as a
built-in unit does, whatever name the engine itself was loaded under. The template root is the
folder above the engine's package, and only counts as one if it holds a `copier.yml`, so an
installed engine (in site-packages) never picks up an unrelated `blocks/` folder.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

from .base import ALIASES, LAYERS, ORIGIN, Layer, UnitError

PACKAGE_DIR = Path(__file__).resolve().parent
NOT_UNITS = {"__init__", "base", "emit", "registry"}

_loaded = False


def template_blocks_dir() -> Path | None:
    """The template's own `blocks/` folder, if the engine sits in a template root that has one."""
    root = PACKAGE_DIR.parent.parent
    folder = root / "blocks"
    if (root / "copier.yml").is_file() and folder.is_dir():
        return folder
    return None


def load_units() -> dict[str, type[Layer]]:
    """Import every unit once (built-in first, then the template's own); the kinds by name."""
    global _loaded
    if not _loaded:
        _loaded = True
        package = __name__.rpartition(".")[0]
        for path in sorted(PACKAGE_DIR.glob("*.py")):
            if path.stem not in NOT_UNITS:
                importlib.import_module(f"{package}.{path.stem}")
        folder = template_blocks_dir()
        if folder is not None:
            for path in sorted(folder.glob("*.py")):
                if not path.stem.startswith("_"):
                    _load_template_unit(package, path)
    return LAYERS


def _load_template_unit(package: str, path: Path) -> None:
    if (PACKAGE_DIR / path.name).exists():
        raise UnitError(
            f"{path}: a template's block file cannot be named like the built-in module "
            f"{path.name}; rename it"
        )
    name = f"{package}.{path.stem}"
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


def kinds() -> list[str]:
    load_units()
    return list(LAYERS)


def aliases() -> dict[str, str]:
    load_units()
    return dict(ALIASES)


def origin(kind: str) -> str:
    load_units()
    return ORIGIN[kind]
