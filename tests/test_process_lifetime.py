"""Every process `scaffold new` starts ends when it ends: on success, on Ctrl-C or SIGTERM, and
on SIGKILL, which gives it no chance to clean up.

The processes in question are black's formatter workers, forked on cache misses
(scaffold/formatting.py), and git. Runs here get an empty black cache, so that every file is a
miss and the workers run, and are stopped at random moments while they format. Each run is tagged
through its environment (tests/processes.py), which finds its processes even after they have
been reparented; any survivor is SIGKILLed by the test, so the test leaves nothing behind either.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import black
import pytest
from processes import HAVE_PROC, new_tag, reap, tagged_env, workers_of

from scaffold import formatting

pytestmark = [
    pytest.mark.skipif(not HAVE_PROC, reason="finds processes through Linux's /proc"),
    pytest.mark.skipif(not hasattr(os, "fork"), reason="workers are forked"),
]

KILLS = 15
INTERRUPTS = 3  # of each kind
BLUEPRINT = "bcnn_vgg16"
EXPECTED = {"README.md", "pyproject.toml", ".copier-answers.yml", "configs", "tests", "scripts"}


def start_new(dest: Path, tag: str, cache: Path, **popen) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "scaffold", "new", "--blueprint", BLUEPRINT, str(dest)],
        env=tagged_env(tag, cache),
        stdout=subprocess.DEVNULL,
        **popen,
    )


def wait_for_workers(process: subprocess.Popen, tag: str, timeout: float = 120) -> bool:
    """Wait until the run has forked its formatter workers; False if it ended first."""
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        seen = workers_of(process.pid, tag)
        if seen:
            # A child that git or another program is about to replace has the same command line
            # for a moment; a worker is one still there a little later.
            time.sleep(0.02)
            if set(seen) & set(workers_of(process.pid, tag)):
                return True
        time.sleep(0.01)
    return False


def random_moment_while_formatting(process, tag, rng: random.Random, latest: float = 0.3) -> bool:
    """Sleep until a random moment of the formatting (from the fork on, up to `latest` seconds
    after it); whether the workers were still there at that moment."""
    if not wait_for_workers(process, tag):
        return False
    time.sleep(rng.uniform(0, latest))
    return bool(workers_of(process.pid, tag))


def assert_absent_or_complete(dest: Path) -> None:
    if dest.exists():
        assert EXPECTED | {dest.name} <= {p.name for p in dest.iterdir()}, dest
        assert (dest / dest.name / "train.py").stat().st_size > 1000


@pytest.fixture
def rng():
    seed = random.randrange(2**32)
    print(f"random moments from seed {seed}")  # shown when the test fails
    return random.Random(seed)


def test_sigkill_while_formatting_leaves_no_process(tmp_path, rng):
    tags, hits = [], 0
    try:
        for i in range(KILLS):
            tag = new_tag()
            tags.append(tag)
            process = start_new(tmp_path / f"proj{i}", tag, tmp_path / f"cache{i}")
            try:
                hits += random_moment_while_formatting(process, tag, rng)
            finally:
                process.kill()
                process.wait()
    finally:
        survivors = reap(tags, within=5.0)
    print(f"{hits} of {KILLS} kills while formatting")
    assert not survivors, f"{len(survivors)} alive 5 s after SIGKILL (now killed): " + "; ".join(
        f"{pid} {command[:70]}" for pid, command in list(survivors.items())[:4]
    )
    # The kills must have met the workers, or this tested nothing.
    assert hits >= KILLS // 3, f"only {hits} of {KILLS} kills came while formatting"


@pytest.mark.parametrize("how", ["SIGINT", "SIGTERM", "Ctrl-C"])
def test_interrupt_while_formatting_exits_cleanly_and_leaves_no_process(tmp_path, rng, how):
    """SIGINT or SIGTERM to `scaffold new`, or SIGINT to its whole process group as a terminal's
    Ctrl-C sends it (the workers get it too): it exits at once, with DEST absent or complete,
    no staging folder, no traceback, and no process left."""
    hits = 0
    for i in range(INTERRUPTS):
        tag = new_tag()
        dest = tmp_path / f"proj{i}"
        process = start_new(
            dest, tag, tmp_path / f"cache{i}", stderr=subprocess.PIPE, start_new_session=True
        )
        try:
            # The first signal comes right after the fork, so that one surely meets the workers
            # on a fast machine too; the others at random moments.
            latest = 0.0 if i == 0 else 0.3
            hits += random_moment_while_formatting(process, tag, rng, latest)
            if how == "Ctrl-C":
                os.killpg(process.pid, signal.SIGINT)
            else:
                process.send_signal(getattr(signal, how))
            _, err = process.communicate(timeout=30)  # a hang fails here
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            # The workers are reaped before `new` exits: nothing of the run may be left now.
            left = reap([tag], within=0)
        assert not left, f"left after `new` exited (now killed): {left}"
        # 130: interrupted, DEST absent. Once DEST is in place, `new` has nothing left to undo:
        # it finishes (0), or SIGTERM ends it with the default action.
        finished = (0, -signal.SIGTERM) if how == "SIGTERM" else (0,)
        assert process.returncode == 130 or (process.returncode in finished and dest.exists()), err
        assert "Traceback" not in err.decode()
        if process.returncode == 130:
            assert b"interrupted" in err
        assert_absent_or_complete(dest)
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(f".{dest.name}.scaffold-")]
    print(f"{hits} of {INTERRUPTS} signals while formatting")
    assert hits >= 1, "no signal came while formatting"


def test_finished_run_leaves_no_process(tmp_path):
    tag = new_tag()
    process = start_new(tmp_path / "proj", tag, tmp_path / "cache", stderr=subprocess.PIPE)
    try:
        saw_workers = wait_for_workers(process, tag)
        _, err = process.communicate(timeout=120)
    finally:
        left = reap([tag], within=0)
    assert process.returncode == 0, err
    assert not left, f"left after `new` exited (now killed): {left}"
    assert saw_workers or os.cpu_count() == 1


# The workers themselves, in this process: what they start with, and what happens when they fail.

SOURCES = [f"def f{i}( x ):\n    return [ x,{i} ]\n" * (40 + 10 * i) for i in range(6)]


def black_one_at_a_time(sources):
    return [black.format_str(source, mode=formatting.black_mode()) for source in sources]


def my_children() -> list[int]:
    """Processes whose parent is this one, zombies (not yet reaped) included."""
    me, found = str(os.getpid()), []
    for entry in os.scandir("/proc"):
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                if entry.name.isdigit() and f.read().rsplit(b")", 1)[1].split()[1] == me.encode():
                    found.append(int(entry.name))
        except OSError:
            continue
    return found


@pytest.fixture
def two_cores(monkeypatch):
    """Forked workers even on a machine with one core; no children before or after."""
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    before = my_children()
    yield
    assert my_children() == before


@pytest.fixture
def as_in_scaffold_new():
    """The parent's signal state during `scaffold new`'s render: SIGTERM raises
    KeyboardInterrupt (render._staging_dir), and here SIGINT and SIGTERM are also blocked, as the
    old pool held them while forking its workers."""

    def terminate(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, terminate)
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    yield
    signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    signal.signal(signal.SIGTERM, previous)


def in_workers(monkeypatch, marks: Path, action):
    """Run `action()` in a forked worker before each source it formats. This process formats
    nothing until a worker has begun, so that the workers do get tasks."""
    parent, real = os.getpid(), formatting._black

    def black_with_action(source):
        if os.getpid() != parent:
            (marks / f"began-{os.getpid()}").touch()
            action()
        else:
            deadline = time.monotonic() + 60
            while not any(marks.glob("began-*")) and time.monotonic() < deadline:
                time.sleep(0.01)
        return real(source)

    monkeypatch.setattr(formatting, "_black", black_with_action)


def test_workers_start_with_signals_unblocked_and_default_handlers(
    tmp_path, monkeypatch, two_cores, as_in_scaffold_new
):
    def report():
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, [])
        handlers = [signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)]
        held = sorted(s.name for s in blocked & {signal.SIGINT, signal.SIGTERM})
        default = handlers == [signal.SIG_DFL, signal.SIG_DFL]
        report = {"held": held, "default": default}
        (tmp_path / f"report-{os.getpid()}").write_text(json.dumps(report))

    in_workers(monkeypatch, tmp_path, report)
    assert formatting._format_on_every_core(SOURCES) == black_one_at_a_time(SOURCES)
    reports = [json.loads(p.read_text()) for p in tmp_path.glob("report-*")]
    assert reports and all(r == {"held": [], "default": True} for r in reports), reports


@pytest.mark.parametrize("failure", ["killed", "black error"])
def test_what_a_failed_worker_took_is_formatted_here(tmp_path, monkeypatch, two_cores, failure):
    def fail():
        if failure == "killed":
            os.kill(os.getpid(), signal.SIGKILL)
        raise black.InvalidInput("only in the worker")

    in_workers(monkeypatch, tmp_path, fail)
    assert formatting._format_on_every_core(SOURCES) == black_one_at_a_time(SOURCES)
    assert any(tmp_path.glob("began-*"))


@pytest.mark.parametrize("where", ["largest", "smallest"])
def test_black_errors_are_those_of_formatting_one_at_a_time(two_cores, where):
    """A source black rejects raises black's error, whichever process takes it."""
    size = 2 * len(SOURCES[-1]) if where == "largest" else 20
    bad = "def broken(:\n".ljust(size, "#")
    with pytest.raises(black.InvalidInput):
        formatting._format_on_every_core([*SOURCES, bad])


# A parent SIGKILLed at the worst moments, in a script of its own (this test process must live).

KILLED_PARENT = """
import os, sys, time
from pathlib import Path
from scaffold import formatting

marker = Path(sys.argv[2])
real_black = formatting._black
if sys.argv[1] == "before set-up":  # the parent dies between the fork and the worker's prctl
    prctl = formatting._parent_death_signal()

    def slow_prctl(*args):
        marker.touch()
        time.sleep(1.0)
        return prctl(*args)

    formatting._parent_death_signal = lambda: slow_prctl
elif sys.argv[1] == "while formatting, without prctl":  # as on macOS: a thread has to notice
    formatting._parent_death_signal = lambda: None

def black_in_worker(source, parent=os.getpid()):
    if os.getpid() != parent:
        marker.touch()
        return real_black(source)
    time.sleep(60)  # the parent leaves the work to the worker, and is killed meanwhile

formatting._black = black_in_worker
sources = [f"def f{i}( x ):\\n    return [ x,{i} ]\\n" * 300 for i in range(400)]  # minutes of work
formatting._format_on_every_core(sources)
"""


@pytest.mark.parametrize(
    "moment", ["while formatting", "before set-up", "while formatting, without prctl"]
)
def test_a_worker_ends_soon_after_its_parent_is_killed(tmp_path, moment):
    """With minutes of work left, the worker ends: the kernel tells it (prctl), also when the
    parent dies before the worker has asked to be told (it checks its parent after asking), and
    on a system without prctl (a thread watches)."""
    tag, marker = new_tag(), tmp_path / "worker-started"
    process = subprocess.Popen(
        [sys.executable, "-c", KILLED_PARENT, moment, str(marker)],
        env={**tagged_env(tag), "SCAFFOLD_NO_CACHE": "1"},
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert marker.exists(), process.communicate()[1]
    finally:
        process.kill()
        process.wait()
    survivors = reap([tag], within=5.0)
    assert not survivors, f"alive 5 s after the parent's SIGKILL (now killed): {survivors}"
