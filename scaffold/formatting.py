"""black, with the fixed mode of generated projects, and a cache of its results.

black is a pure function of its input and mode, and the same template text is formatted again and
again (every `scaffold new`, both renders of every `scaffold update`, every `scaffold check`),
so results are kept on disk by the hash of their input: a hit costs a file read instead of
black's ~0.2 ms per line. `SCAFFOLD_NO_CACHE=1` turns the cache off.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import signal
import tempfile
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from functools import cache
from importlib.metadata import version
from pathlib import Path

CACHE_ENTRIES = 2000  # about 20 MB: the files of a few hundred projects
TARGETS = "py310+"  # the target versions black infers from `requires-python = ">=3.10"`
LINE_LENGTH = 100  # of generated code: the generated pyproject.toml's [tool.black] says the same


@cache
def black_mode():
    """What `black --check` uses inside a generated project: line length LINE_LENGTH (its
    pyproject.toml's [tool.black]), with the target versions black infers from the project's
    `requires-python = ">=3.10"`. Changing this reformats every generated file. black is imported
    here, on first need: a run whose results all come from the cache does without it."""
    import black

    first = black.TargetVersion.PY310.value
    targets = {v for v in black.TargetVersion if v.value >= first}
    return black.Mode(target_versions=targets, line_length=LINE_LENGTH)


@cache
def _key_prefix() -> bytes:
    """What a result depends on besides the source: black's version and the (fixed) mode."""
    return f"black {version('black')}, line length {LINE_LENGTH}, targets {TARGETS}\n".encode()


def cache_dir() -> Path | None:
    if os.environ.get("SCAFFOLD_NO_CACHE"):
        return None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "scaffold" / "black"


def format_python(source: str) -> str:
    """`source` formatted as black formats it in a generated project."""
    return format_many([source])[0]


def format_many(sources: list[str]) -> list[str]:
    """Each source formatted as black formats it in a generated project; what the cache does not
    hold is formatted on every core at once (black holds the GIL: processes, not threads)."""
    folder = cache_dir()
    paths = [_cache_path(folder, source) for source in sources] if folder else [None] * len(sources)
    results: list[str | None] = [_cached(path) for path in paths]
    missing = sorted(
        (i for i, r in enumerate(results) if r is None), key=lambda i: -len(sources[i])
    )
    workers = min(len(missing), os.cpu_count() or 1)
    if workers > 1 and "fork" in multiprocessing.get_all_start_methods():
        import black  # noqa: F401  imported before forking, so the workers start with it

        context = multiprocessing.get_context("fork")
        with _signals_held(), ProcessPoolExecutor(workers, mp_context=context) as pool:
            formatted = list(pool.map(_black, [sources[i] for i in missing]))
    else:
        formatted = [_black(sources[i]) for i in missing]
    for i, text in zip(missing, formatted):
        results[i] = text
        if paths[i] is not None:
            _store(paths[i], text)
    return results


@contextmanager
def _signals_held():
    """Ctrl-C and SIGTERM wait until the pool is shut down (a second or so): raised in the
    middle of the pool's bookkeeping, the KeyboardInterrupt can leave it waiting forever.
    Delivered when this ends, they interrupt `scaffold new` as anywhere else."""
    held = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _cache_path(folder: Path, source: str) -> Path:
    key = hashlib.sha256(_key_prefix() + source.encode()).hexdigest()
    return folder / key[:2] / key


def _cached(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return None


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
