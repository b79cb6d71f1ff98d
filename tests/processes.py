"""Finding every process a test's run of `scaffold` started, wherever it ended up.

Each run gets an environment variable of its own (`tagged_env`). Forked workers and git
subprocesses inherit it, and it stays in /proc/PID/environ even when a process has been
reparented after its parent died. So `processes_of(tag)` finds a run's processes without knowing
their pids, and `reap(tags)` checks that they are gone, SIGKILLing any that are not, so that the
test run itself leaves nothing behind.
"""

from __future__ import annotations

import os
import signal
import sys
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TAG = "SCAFFOLD_TEST_RUN"
HAVE_PROC = sys.platform.startswith("linux") and Path("/proc/self/environ").exists()


def new_tag() -> str:
    return uuid.uuid4().hex


def tagged_env(tag: str, cache: Path | None = None) -> dict[str, str]:
    """The environment for one run: this checkout's scaffold, the tag, and, when given, a black
    cache of its own (an empty one makes every file a cache miss, so the formatter workers run)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), TAG: tag}
    if cache is not None:
        env["XDG_CACHE_HOME"] = str(cache)
    return env


def processes_of(tag: str) -> dict[int, str]:
    """The live processes carrying `tag`: pid -> command line. Zombies are dead (their parent
    has not reaped them yet) and are left out."""
    needle = f"\0{TAG}={tag}\0".encode()
    found = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as f:
                if needle not in b"\0" + f.read():
                    continue
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                if f.read().rsplit(b")", 1)[1].split()[0] == b"Z":
                    continue
            with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                found[int(entry.name)] = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return found


def workers_of(main: int, tag: str) -> list[int]:
    """The formatter workers of the run whose first process is `main`: processes forked from it,
    with its command line (git and other programs it runs have their own)."""
    processes = processes_of(tag)
    if main not in processes:
        return []
    return [pid for pid, command in processes.items() if pid != main and command == processes[main]]


def reap(tags: list[str], within: float = 5.0) -> dict[int, str]:
    """Wait up to `within` seconds for every process of these runs to end; SIGKILL those that
    did not, and return them (pid -> command line) for the test to report."""
    deadline = time.monotonic() + within
    while True:
        alive = {pid: cmd for tag in tags for pid, cmd in processes_of(tag).items()}
        if not alive or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    for pid in alive:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return alive
