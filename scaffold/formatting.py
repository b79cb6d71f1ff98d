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

from .style import LINE_LENGTH

CACHE_ENTRIES = 2000  # about 20 MB: the files of a few hundred projects
TARGETS = "py311+"  # the target versions black infers from `requires-python = ">=3.11"`


@cache
def black_mode():
    """What `black --check` uses inside a generated project: line length LINE_LENGTH (its
    pyproject.toml's [tool.black]), with the target versions black infers from the project's
    `requires-python = ">=3.11"`. Changing this may reformat every generated file (3.10 to 3.11
    changed none of examples/). black is imported here, on first need: a run whose results all
    come from the cache does without it."""
    import black

    first = black.TargetVersion.PY311.value
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
    missing = [i for i, r in enumerate(results) if r is None]
    formatted = _format_on_every_core([sources[i] for i in missing])
    for i, text in zip(missing, formatted):
        results[i] = text
        if paths[i] is not None:
            _store(paths[i], text)
    return results


def _format_on_every_core(sources: list[str]) -> list[str]:
    """black over `sources`, shared between this process and one forked worker per other core.

    The sources, largest first, are tasks in a pipe that every process reads from, a task at a
    time, until it is empty: whoever is free takes the next one (one file can take half the
    time). Each worker then sends its results back through a pipe of its own and exits: it lives
    no longer than this call. Whatever way this process ends, its workers end with it: on an
    exception (Ctrl-C, SIGTERM) they are killed and reaped here; on SIGKILL the kernel kills them
    (see _die_with). What a worker did not send back, because it failed for any reason, is
    formatted here, so errors and results are those of formatting one source at a time.

    Not a ProcessPoolExecutor: its workers wait for more work for as long as the pool lives, a
    Ctrl-C inside its threads and queues could hang `scaffold new`, and the signal mask held
    against that was inherited by the workers, which then ignored SIGTERM and outlived a
    SIGKILLed parent (issue 18). Here there are no locks or threads to leave in a bad state:
    pipes, written once, and signals held only between a fork and its bookkeeping."""
    processes = min(len(sources), os.cpu_count() or 1)
    if processes < 2 or not hasattr(os, "fork"):
        return [_black(source) for source in sources]
    import black  # noqa: F401  imported before forking, so the workers start with it

    _parent_death_signal()  # ctypes loaded before forking too
    largest_first = sorted(range(len(sources)), key=lambda i: -len(sources[i]))
    per_task = -(-len(sources) // _MAX_TASKS)
    tasks = [largest_first[i : i + per_task] for i in range(0, len(sources), per_task)]
    results: dict[int, str] = {}
    workers: dict[int, int] = {}  # pid: read end of the pipe its results come through
    queue = None
    parent = os.getpid()
    try:
        queue, queue_in = os.pipe()
        with os.fdopen(queue_in, "wb") as pipe:  # all of it fits in the pipe's buffer
            pipe.write(b"".join(t.to_bytes(_TASK_BYTES, "little") for t in range(len(tasks))))
        for _ in range(processes - 1):
            # Held from fork to bookkeeping: a Ctrl-C in between would lose track of the worker.
            with _signals_held():
                read_end, write_end = os.pipe()
                try:
                    pid = os.fork()
                except OSError:  # no more processes allowed: fewer workers, same results
                    os.close(read_end)
                    os.close(write_end)
                    break
                if pid == 0:
                    inherited = [read_end, *workers.values()]
                    _worker(parent, queue, tasks, sources, write_end, inherited)
                os.close(write_end)
                workers[pid] = read_end
        results.update(_take_tasks(queue, tasks, sources))
        for pid, read_end in list(workers.items()):
            data = _read_all(read_end)  # to the end: the worker has finished or died
            with _signals_held():  # reaped and forgotten together: a reaped pid is never killed
                _, status = os.waitpid(pid, 0)
                del workers[pid]
                os.close(read_end)
            results.update(_results(status, data, len(sources)))
    finally:
        with _signals_held():
            for pid, read_end in workers.items():
                _end(pid)
                os.close(read_end)
            if queue is not None:
                os.close(queue)
    return [results[i] if i in results else _black(sources[i]) for i in range(len(sources))]


_TASK_BYTES = 4  # a task's number in the pipe; reads this short take whole numbers, never halves
_MAX_TASKS = 4096  # 16 KiB of task numbers: the smallest pipe buffer (macOS) holds them all


def _take_tasks(queue: int, tasks: list[list[int]], sources: list[str]) -> dict[int, str]:
    """Format the sources of task after task from the queue until it is empty."""
    done = {}
    while len(task := os.read(queue, _TASK_BYTES)) == _TASK_BYTES:
        for i in tasks[int.from_bytes(task, "little")]:
            done[i] = _black(sources[i])
    return done


def _worker(parent: int, queue: int, tasks, sources, write_end: int, inherited) -> NoReturn:
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
        data = pickle.dumps(_take_tasks(queue, tasks, sources))
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


def _results(status: int, data: bytes, count: int) -> dict[int, str]:
    """What a worker formatted, by index; nothing when it did not finish."""
    if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
        return {}
    try:
        done = pickle.loads(data)
    except Exception:
        return {}
    if not isinstance(done, dict) or not all(
        isinstance(i, int) and 0 <= i < count and isinstance(t, str) for i, t in done.items()
    ):
        return {}
    return done


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
