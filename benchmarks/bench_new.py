"""Is `scaffold new` as fast as copier? Its wall time against `copier copy` of a one-file
template, in the same run (the goal: at most 1.0x).

    python benchmarks/bench_new.py [--repeat 7] [--blueprint lenet] [--checkout DIR]

Each round runs, one after the other, as a user runs them (fresh processes):

- `copier copy --trust --defaults` of a template that is one file in a git repository: the
  reference;
- `scaffold new` from this checkout (python -m scaffold), black's cache warm and cold;
- `scaffold new` from a wheel of this checkout installed in a venv, whose template repository
  (unpacked from the wheel's bundle into the user's data folder) exists already: what a user of
  an installed scaffold waits for; and once per round with no such repository (the first run
  after installing, which unpacks it).

Prints the median and fastest of --repeat rounds, and each median as a ratio to copier's.
Build the wheel from a clean tree: with uncommitted changes to scaffold/, the installed engine
differs from the bundled one and scaffold loads the bundled one besides.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def wall(command: list[str], env: dict, cwd: Path | None = None) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout}{done.stderr}")
    return seconds


def run(command: list[str], **kwargs) -> None:
    done = subprocess.run(command, capture_output=True, text=True, **kwargs)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout}{done.stderr}")


def one_file_template(root: Path) -> Path:
    root.mkdir()
    (root / "copier.yml").write_text("name:\n  type: str\n  default: demo\n", encoding="utf-8")
    (root / "README.md.jinja").write_text("# {{ name }}\n", encoding="utf-8")
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b"}
    env.update(GIT_COMMITTER_NAME="b", GIT_COMMITTER_EMAIL="b@b")
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "one file"]):
        run(["git", "-C", str(root), *command], env=env)
    run(["git", "-C", str(root), "tag", "v1"])
    return root


def installed_scaffold(work: Path, checkout: Path) -> Path:
    """A venv with a wheel of the checkout installed (packages of this Python visible)."""
    wheels = work / "wheel"
    run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
        + ["-w", str(wheels), str(checkout)]
    )
    (wheel,) = wheels.glob("scaffold-*.whl")
    env_dir = work / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    here = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    Path(purelib, "_bench.pth").write_text("\n".join(sorted(here)) + "\n")
    run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps"]
        + [str(wheel)]
    )
    return python


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--blueprint", default="lenet")
    parser.add_argument(
        "--checkout", type=Path, default=REPO, help="the scaffold to measure (default: this one)"
    )
    args = parser.parse_args()
    checkout_dir = args.checkout.resolve()
    print(f"{platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory(prefix="bench-new-") as tmp:
        work = Path(tmp)
        template = one_file_template(work / "one-file-template")
        python = installed_scaffold(work, checkout_dir)
        base = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        warm = {**base, "XDG_CACHE_HOME": str(work / "cache"), "XDG_DATA_HOME": str(work / "data")}
        checkout = {**warm, "PYTHONPATH": str(checkout_dir)}
        # fill black's cache and the template repository once
        wall(
            [sys.executable, "-m", "scaffold", "new", "-b", args.blueprint, str(work / "w0")],
            checkout,
        )
        wall(
            [str(python), "-m", "scaffold", "new", "-b", args.blueprint, str(work / "w1")],
            warm,
            work,
        )
        times: dict[str, list[float]] = {
            "copier copy, one-file template": [],
            "scaffold new, checkout, warm cache": [],
            "scaffold new, checkout, cold cache": [],
            "scaffold new, wheel, warm cache": [],
            "scaffold new, wheel, first run": [],
        }
        copier = [sys.executable, "-m", "copier", "copy", "--trust", "--defaults", "--quiet"]
        for i in range(args.repeat):
            out = work / f"round-{i}"
            out.mkdir()
            labels = iter(times)
            times[next(labels)].append(wall([*copier, str(template), str(out / "copier")], base))
            times[next(labels)].append(
                wall(
                    [sys.executable, "-m", "scaffold", "new", "-b", args.blueprint, str(out / "a")],
                    checkout,
                )
            )
            cold = {**checkout, "XDG_CACHE_HOME": str(out / "cold-cache")}
            times[next(labels)].append(
                wall(
                    [sys.executable, "-m", "scaffold", "new", "-b", args.blueprint, str(out / "b")],
                    cold,
                )
            )
            times[next(labels)].append(
                wall(
                    [str(python), "-m", "scaffold", "new", "-b", args.blueprint, str(out / "c")],
                    warm,
                    work,
                )
            )
            first = {**warm, "XDG_DATA_HOME": str(out / "fresh-data")}
            times[next(labels)].append(
                wall(
                    [str(python), "-m", "scaffold", "new", "-b", args.blueprint, str(out / "d")],
                    first,
                    work,
                )
            )
            shutil.rmtree(out)
        reference = statistics.median(times["copier copy, one-file template"])
        print(f"\nblueprint {args.blueprint}; median / fastest of {args.repeat} rounds, seconds\n")
        for label, values in times.items():
            median = statistics.median(values)
            print(
                f"{label:38s} {median:6.2f} / {min(values):5.2f}   {median / reference:5.2f}x copier"
            )


if __name__ == "__main__":
    main()
