"""black, with the fixed mode of generated projects, and a cache of its results.

black is a pure function of its input and mode, and the same template text is formatted again and
again (every `scaffold new`, both renders of every `scaffold update`, every `scaffold check`),
so results are kept on disk by the hash of their input: a hit costs a file read instead of
black's ~0.2 ms per line. `SCAFFOLD_NO_CACHE=1` turns the cache off. Misses are formatted on
every core, by forked workers that live no longer than the call and never outlive this process.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import signal
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from functools import cache
from importlib.metadata import version
from pathlib import Path
from typing import NoReturn

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
    return format_many([source])[0]


def format_many(sources: list[str]) -> list[str]:
    """Each source formatted as black formats it in a generated project; what the cache does not
    hold is formatted on every core at once (black holds the GIL: processes, not threads)."""
    folder = cache_dir()
    paths = [_cache_path(folder, source) for source in sources] if folder else [None] * len(sources)
    results: list[str | None] = [_cached(path) for path in paths]
    missing = [i for i, r in enumerate(results) if r is None]
    formatted = _format_on_every_core([sources[i] for i in missing])
    for i, text in zip(missing, formatted):
        results[i] = text
        if paths[i] is not None:
            _store(paths[i], text)
    return results


def _format_on_every_core(sources: list[str]) -> list[str]:
    """black over `sources`, shared between this process and one forked worker per other core.

    Each worker formats its share, sends the results back through a pipe and exits: it lives no
    longer than this call. Whatever way this process ends, its workers end with it: on an
    exception (Ctrl-C, SIGTERM) they are killed and reaped here; on SIGKILL the kernel kills them
    (see _die_with). A worker that fails for any reason has its share formatted here, so
    errors and results are those of formatting one source at a time.

    Not a ProcessPoolExecutor: its workers wait for more work for as long as the pool lives, a
    Ctrl-C inside its threads and queues could hang `scaffold new`, and the signal mask held
    against that was inherited by the workers, which then ignored SIGTERM and outlived a
    SIGKILLed parent (issue 18). Here there is no shared state to corrupt: one pipe per worker,
    and signals are held only for the few instructions between a fork and its bookkeeping."""
    processes = min(len(sources), os.cpu_count() or 1)
    if processes < 2 or not hasattr(os, "fork"):
        return [_black(source) for source in sources]
    import black  # noqa: F401  imported before forking, so the workers start with it

    _parent_death_signal()  # ctypes loaded before forking too
    mine, *theirs = _shares([len(source) for source in sources], processes)
    results: list[str | None] = [None] * len(sources)
    workers: dict[int, tuple[int, list[int]]] = {}  # pid: (read end of its pipe, its share)
    parent = os.getpid()
    try:
        for share in theirs:
            # Held from fork to bookkeeping: a Ctrl-C in between would lose track of the worker.
            with _signals_held():
                read_end, write_end = os.pipe()
                try:
                    pid = os.fork()
                except OSError:  # no more processes allowed: this one does the share
                    os.close(read_end)
                    os.close(write_end)
                    mine += share
                    continue
                if pid == 0:
                    others = [fd for fd, _ in workers.values()]
                    _worker(parent, [sources[i] for i in share], write_end, [read_end, *others])
                os.close(write_end)
                workers[pid] = (read_end, share)
        for i in mine:
            results[i] = _black(sources[i])
        for pid, (read_end, share) in list(workers.items()):
            data = _read_all(read_end)  # to the end: the worker has finished or died
            with _signals_held():  # reaped and forgotten together: a reaped pid is never killed
                _, status = os.waitpid(pid, 0)
                del workers[pid]
                os.close(read_end)
            texts = _results(status, data, len(share)) or [_black(sources[i]) for i in share]
            for i, text in zip(share, texts):
                results[i] = text
    finally:
        with _signals_held():
            for pid, (read_end, _) in workers.items():
                _end(pid)
                os.close(read_end)
    return results


def _shares(sizes: list[int], count: int) -> list[list[int]]:
    """Indices of `sizes` in `count` groups of about equal total size: the largest first, each
    to the group with the least so far (black's time grows with the length of its input)."""
    shares: list[list[int]] = [[] for _ in range(count)]
    totals = [0] * count
    for i in sorted(range(len(sizes)), key=lambda i: -sizes[i]):
        least = totals.index(min(totals))
        shares[least].append(i)
        totals[least] += sizes[i]
    return shares


def _worker(parent: int, sources: list[str], write_end: int, inherited: list[int]) -> NoReturn:
    """The forked worker: format, send the results, exit. It never returns into the caller's
    frames, whose clean-up (the staging folder of `scaffold new`) belongs to the parent."""
    code = 1
    try:
        for fd in inherited:
            os.close(fd)
        # The parent's handlers (SIGTERM raising KeyboardInterrupt) and its held mask are not
        # the worker's: it dies of Ctrl-C or SIGTERM at once, as a plain process does (and, like
        # one, ignores what its parent was started ignoring, as `nohup` or `&` arrange).
        for signum in _HELD:
            if signal.getsignal(signum) != signal.SIG_IGN:
                signal.signal(signum, signal.SIG_DFL)
        _die_with(parent)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _HELD)
        data = pickle.dumps([_black(source) for source in sources])
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(data)
        code = 0
    finally:
        os._exit(code)


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


def _results(status: int, data: bytes, count: int) -> list[str] | None:
    """A worker's results, or None when it did not finish its share."""
    if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
        return None
    try:
        texts = pickle.loads(data)
    except Exception:
        return None
    return texts if isinstance(texts, list) and len(texts) == count else None


def _end(pid: int) -> None:
    """Kill and reap a worker this process no longer waits for."""
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


@cache
def _parent_death_signal():
    """Linux's prctl, through which the kernel sends a signal to a process when its parent dies,
    whatever killed the parent; None elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def _die_with(parent: int) -> None:
    """Make this worker end when the process that forked it ends, even by SIGKILL, which gives
    the parent no chance to end it: on Linux the kernel sends SIGKILL; elsewhere a thread
    watches the parent's pid. Either way, a parent that died before this was set up is seen by
    the check on getppid() at the end (the worker then has a new parent)."""
    prctl = _parent_death_signal()
    if prctl is None or prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL)) != 0:
        threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    if os.getppid() != parent:
        os._exit(1)


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.25)
    os._exit(1)


_HELD = {signal.SIGINT, signal.SIGTERM}


@contextmanager
def _signals_held():
    """Ctrl-C and SIGTERM wait for the few instructions of bookkeeping inside this block;
    delivered at its end, they interrupt `scaffold new` as anywhere else."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)
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
