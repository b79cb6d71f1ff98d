"""The Jinja extension as copier loads it: from the template version being rendered.

copier.yml names this file by its path, `scaffold/copier_extension.py:ScaffoldExtension`, and
copier-template-extensions executes it as a module of its own (`copier_template_extensions.
copier_extension`), not as part of a `scaffold` package. So it imports nothing of scaffold's by
name. It loads the package folder it sits in, this template checkout's `scaffold/`, under a name
of its own: `_scaffold_engine_<hash>`, the hash of the folder's path and of its files' contents.

`copier update` renders the old and the new template version in one process. Each render gets
its own version's blueprint reader, planner and project values, and the two share no module
state: they are different modules. (They share only the projects of scaffold/jinja_ext.py, and
only between engines whose files are the same: copier loads a version's engine once per clone.) The installed scaffold plays no part; plain copier with
copier-template-extensions renders every version as it was released.

`scaffold` itself uses `load_engine` for a team's template (scaffold/engine.py).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

ENGINE_PREFIX = "_scaffold_engine_"


def fingerprint(folder: Path) -> str:
    """A hash of the package's files (its subpackages too; not caches or data folders that are
    not packages, such as an installed scaffold's `_template/`)."""
    digest = hashlib.sha256()
    for current, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if (Path(current, d) / "__init__.py").is_file())
        for name in sorted(files):
            if name.endswith((".pyc", ".pyo")):
                continue
            path = Path(current, name)
            digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def engine_name(folder: Path) -> str:
    """The module name a template checkout's package folder is loaded under."""
    folder = Path(folder).resolve()
    key = hashlib.sha256(f"{folder}\0{fingerprint(folder)}".encode()).hexdigest()[:16]
    return ENGINE_PREFIX + key


def load_engine(folder: Path) -> ModuleType:
    """The package in `folder` (a `scaffold/` with relative imports inside), imported under a
    name of its own. Loading the same folder with the same contents again gives the same module;
    a changed file or another folder gives a new one."""
    folder = Path(folder).resolve()
    name = engine_name(folder)
    if name in sys.modules:
        return sys.modules[name]
    init = folder / "__init__.py"
    if not init.is_file():
        raise ImportError(f"{folder} is not a Python package (it has no __init__.py)")
    spec = importlib.util.spec_from_file_location(
        name, init, submodule_search_locations=[str(folder)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def __getattr__(name: str):
    # Looked up by copier-template-extensions after executing this file; loading the package
    # only then keeps `import` of this module (as part of scaffold) free of side effects.
    if name in ("ScaffoldExtension", "ScaffoldContext"):
        engine = load_engine(Path(__file__).resolve().parent)
        return getattr(importlib.import_module(f"{engine.__name__}.jinja_ext"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
