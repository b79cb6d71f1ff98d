"""Does formatting on every core pay? black over the Python files of `scaffold new`, cache off.

    python benchmarks/bench_formatting.py [--repeat 10] [BLUEPRINT...]

For each blueprint (default: bcnn_vgg16 and vgg19), the sources the renderer hands to black are
captured once; then, in turns in this one process, `format_many` (this process and one forked
worker per other core) and the same sources one at a time on one core. Prints the median and the
fastest of --repeat runs, the median ratio of each pair (one core / every core: the speed-up), and
the median CPU seconds of an every-core run spent in this process and in its workers, and of a
one-core run.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ["SCAFFOLD_NO_CACHE"] = "1"

from scaffold import formatting, local_template  # noqa: E402
from scaffold.blueprint import load_blueprint  # noqa: E402
from scaffold.render import new_project  # noqa: E402


def sources_of(blueprint: Path) -> list[str]:
    """What the renderer formats for this blueprint (one render, its black calls recorded)."""
    captured: list[list[str]] = []
    real = local_template.format_many
    local_template.format_many = lambda sources: captured.append(list(sources)) or real(sources)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            new_project(load_blueprint(blueprint), Path(tmp) / "proj", "proj", git=False)
    finally:
        local_template.format_many = real
    return captured[0]


def cpu_seconds() -> tuple[float, float]:
    """CPU time so far of this process and of its reaped children (the workers)."""
    me, children = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return me.ru_utime + me.ru_stime, children.ru_utime + children.ru_stime


def compare(sources: list[str], repeat: int) -> dict[str, list[float]]:
    """Seconds of each run, wall and CPU: every core (format_many) and one core (a source at a
    time). On a shared machine the wall times of both suffer from other load; the CPU times
    show what each process did: the longer of this process's and a worker's is what the wall
    time of every core comes to when the cores are free."""
    ways = {
        "every": lambda: formatting.format_many(sources),
        "one": lambda: [formatting.format_python(source) for source in sources],
    }
    assert ways["every"]() == ways["one"]()
    times: dict[str, list[float]] = {
        k: [] for k in ("every", "one", "cpu here", "cpu workers", "cpu one")
    }
    for i in range(repeat):  # in turns, so that load from elsewhere hits both alike
        for label in ("every", "one") if i % 2 else ("one", "every"):
            cpu_before = cpu_seconds()
            started = time.perf_counter()
            ways[label]()
            times[label].append(time.perf_counter() - started)
            here, workers = (b - a for a, b in zip(cpu_before, cpu_seconds()))
            if label == "every":
                times["cpu here"].append(here)
                times["cpu workers"].append(workers)
            else:
                times["cpu one"].append(here)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("blueprints", nargs="*", type=Path)
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    paths = args.blueprints or [REPO / "blueprints" / f"{n}.yaml" for n in ("bcnn_vgg16", "vgg19")]
    print(f"{platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"median / fastest of {args.repeat} runs, seconds\n")
    print(
        f"{'blueprint':16s}{'files':>6s}{'every core':>16s}{'one core':>16s}{'speed-up':>10s}"
        f"{'cpu here':>10s}{'cpu workers':>13s}{'cpu one':>9s}"
    )
    for path in paths:
        sources = sources_of(path)
        times = compare(sources, args.repeat)
        ratios = [o / e for o, e in zip(times["one"], times["every"])]
        cells = [
            f"{statistics.median(times[k]):7.3f} / {min(times[k]):5.3f}" for k in ("every", "one")
        ]
        print(
            f"{path.stem:16s}{len(sources):6d}{cells[0]:>16s}{cells[1]:>16s}"
            f"{statistics.median(ratios):9.2f}x{statistics.median(times['cpu here']):10.3f}"
            f"{statistics.median(times['cpu workers']):13.3f}"
            f"{statistics.median(times['cpu one']):9.3f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
