"""How fast is scaffold itself? Wall time of the real command line, as a user runs it.

    python benchmarks/bench_tool.py [--repeat 5] [BLUEPRINT...]

For every bundled blueprint (or those given): `scaffold new` with a cold cache (black formats
every file) and a warm one (black's results reused), `scaffold validate` and `scaffold inspect`.
Prints the median and the fastest of --repeat runs, in seconds. The goals: new <= 1.0 s for the
largest blueprint, validate and inspect <= 0.3 s.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def wall(command: list[str], env: dict) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr}")
    return seconds


def measure(blueprint: Path, repeat: int, work: Path) -> dict[str, list[float]]:
    scaffold = [sys.executable, "-m", "scaffold"]
    results: dict[str, list[float]] = {
        "new (cold)": [],
        "new (warm)": [],
        "validate": [],
        "inspect": [],
    }
    for i in range(repeat):
        cache = work / f"cache-{blueprint.stem}-{i}"
        env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
        for label in ("new (cold)", "new (warm)"):  # the same cache: empty, then filled
            dest = work / f"{blueprint.stem}-{i}-{label[5:9]}"
            results[label].append(
                wall([*scaffold, "new", "--blueprint", str(blueprint), str(dest)], env)
            )
            shutil.rmtree(dest)
        results["validate"].append(wall([*scaffold, "validate", str(blueprint)], env))
        results["inspect"].append(wall([*scaffold, "inspect", str(blueprint)], env))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("blueprints", nargs="*", type=Path)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    paths = args.blueprints or sorted((REPO / "blueprints").glob("*.yaml"))
    print(f"{platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"median / fastest of {args.repeat} runs, seconds\n")
    header = f"{'blueprint':16s}" + "".join(
        f"{k:>18s}" for k in ("new (cold)", "new (warm)", "validate", "inspect")
    )
    print(header)
    worst: dict[str, tuple[float, str]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-tool-") as tmp:
        for path in paths:
            results = measure(path, args.repeat, Path(tmp))
            cells = []
            for label, times in results.items():
                median = statistics.median(times)
                cells.append(f"{median:8.2f} / {min(times):5.2f}")
                if median > worst.get(label, (0.0, ""))[0]:
                    worst[label] = (median, path.stem)
            print(f"{path.stem:16s}" + "".join(f"{c:>18s}" for c in cells), flush=True)
    print("\nslowest medians: " + ", ".join(f"{k} {v[0]:.2f} s ({v[1]})" for k, v in worst.items()))


if __name__ == "__main__":
    main()
