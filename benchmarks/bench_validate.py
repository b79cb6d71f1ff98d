"""How long does `scaffold validate` take next to the least any click + yaml tool takes?

    python benchmarks/bench_validate.py [--repeat 21] [--root CHECKOUT] [BLUEPRINT ...]

Runs `python -c "import click, yaml"` (the reference: starting Python and importing the two
libraries the command line needs anyway) and `python -m scaffold validate BLUEPRINT` (default: the
slowest bundled blueprints, SLOWEST below) alternately, --repeat times each, and prints the
medians and their ratio. The goal is a ratio of at most 2.

Both run twice over: from a copy of the package with its bytecode cached, as an installed
scaffold runs (`pip install` compiles it), and from a copy without any, where Python compiles
every module on each run (a source checkout under PYTHONDONTWRITEBYTECODE=1, as on the machines
where the tests run). The copies keep the worktree's own __pycache__ out of the measurement.
--root measures another checkout's package (e.g. the main branch, for a before/after
comparison).
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
# the bundled blueprints that validate slowest (the largest by planning work: defined blocks used
# many times), measured in benchmarks/RESULTS.md (stop 30: every bundled blueprint, these three
# and maxvit_t the slowest); vgg16 was issue 15's
SLOWEST = ["efficientnet_v2_s", "efficientnet_b1", "densenet121"]


def wall(command: list[str], env: dict, cwd: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr}")
    return seconds


def measure(root_dir: Path, blueprint: Path, repeat: int, bytecode: bool) -> tuple[float, float]:
    with tempfile.TemporaryDirectory(prefix="bench-validate-") as tmp:
        root = Path(tmp)
        shutil.copytree(
            root_dir / "scaffold",
            root / "scaffold",
            ignore=shutil.ignore_patterns("__pycache__", "_template"),
        )
        # the bundled blueprints where an installed package has them: a family blueprint's
        # `pretrained` check reads torchvision's layout from its bundled blueprint
        shutil.copytree(root_dir / "blueprints", root / "scaffold" / "_template" / "blueprints")
        env = {**os.environ, "PYTHONPATH": str(root)}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        if not bytecode:
            env["PYTHONDONTWRITEBYTECODE"] = "1"
        reference = [sys.executable, "-c", "import click, yaml"]
        validate = [sys.executable, "-m", "scaffold", "validate", str(blueprint)]
        wall(validate, env, root)  # warm the file cache (and write the bytecode, if allowed)
        times: dict[str, list[float]] = {"reference": [], "validate": []}
        for _ in range(repeat):
            times["reference"].append(wall(reference, env, root))
            times["validate"].append(wall(validate, env, root))
        return statistics.median(times["reference"]), statistics.median(times["validate"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "blueprints",
        nargs="*",
        type=Path,
        default=[REPO / f"blueprints/{name}.yaml" for name in SLOWEST],
        help=f"default: {', '.join(SLOWEST)}",
    )
    parser.add_argument("--repeat", type=int, default=21)
    parser.add_argument("--root", type=Path, default=REPO, help="the checkout to measure")
    args = parser.parse_args()
    print(f"{platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"scaffold validate ({args.root / 'scaffold'}), median of {args.repeat} alternating runs")
    for blueprint in args.blueprints:
        print(f"\n{blueprint.name:28s}{'import click, yaml':>20s}{'validate':>12s}{'ratio':>8s}")
        for bytecode, label in ((True, "with bytecode (installed)"), (False, "without bytecode")):
            reference, validate = measure(args.root, blueprint.resolve(), args.repeat, bytecode)
            ratio = validate / reference
            print(f"{label:28s}{reference:18.3f} s{validate:10.3f} s{ratio:8.2f}", flush=True)


if __name__ == "__main__":
    main()
