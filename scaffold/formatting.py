"""black, with the fixed mode of generated projects, and a cache of its results.

black is a pure function of its input and mode, and the same template text is formatted again and
again (every `scaffold new`, both renders of every `scaffold update`, every `scaffold check`),
so results are kept on disk by the hash of their input: a hit costs a file read instead of
black's ~0.2 ms per line. `SCAFFOLD_NO_CACHE=1` turns the cache off.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from functools import cache
from importlib.metadata import version
from pathlib import Path

CACHE_ENTRIES = 2000  # about 20 MB: the files of a few hundred projects
TARGETS = "py310+"  # the target versions black infers from `requires-python = ">=3.10"`


@cache
def black_mode():
    """What `black --check` uses inside a generated project: black's defaults, with the target
    versions it infers from the project's `requires-python = ">=3.10"`. Changing this reformats
    every generated file, so it changes only with black's major version (pinned in
    pyproject.toml). black is imported here, on first need: a run whose results all come from
    the cache does without it."""
    import black

    first = black.TargetVersion.PY310.value
    return black.Mode(target_versions={v for v in black.TargetVersion if v.value >= first})


@cache
def _key_prefix() -> bytes:
    """What a result depends on besides the source: black's version and the (fixed) mode."""
    return f"black {version('black')}, default mode, targets {TARGETS}\n".encode()


def cache_dir() -> Path | None:
    if os.environ.get("SCAFFOLD_NO_CACHE"):
        return None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "scaffold" / "black"


def format_python(source: str) -> str:
    """`source` formatted as black formats it in a generated project."""
    folder = cache_dir()
    if folder is None:
        return _black(source)
    key = hashlib.sha256(_key_prefix() + source.encode()).hexdigest()
    path = folder / key[:2] / key
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        pass
    formatted = _black(source)
    _store(path, formatted)
    return formatted


def _black(source: str) -> str:
    import black

    return black.format_str(source, mode=black_mode())


def _store(path: Path, text: str) -> None:
    """Write atomically (another process may read it at the same time); a cache that cannot be
    written is no error."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
        if hash(path.name) % 50 == 0:  # now and then, keep the cache bounded
            _trim(path.parent.parent)
    except OSError:
        pass


def _trim(folder: Path) -> None:
    entries = [p for p in folder.glob("*/*") if not p.name.startswith(".")]
    if len(entries) <= CACHE_ENTRIES:
        return
    entries.sort(key=lambda p: p.stat().st_mtime)
    for old in entries[: len(entries) - CACHE_ENTRIES]:
        old.unlink(missing_ok=True)
