"""`scaffold smoke`: generate each blueprint, check its formatting, run its tests and a short CPU
training, and print one line per blueprint. Meant for a team's CI over the blueprints it owns."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from .blueprint import load_blueprint
from .errors import BlueprintError, UsageError
from .project import Project, package_name_for
from .render import new_project

STEP_TIMEOUT = 1800  # seconds for one blueprint's tests, on a slow CI machine


class SmokeFailure(Exception):
    pass


def smoke_blueprints(
    paths: list[Path],
    keep: bool = False,
    template: str | None = None,
    echo: Callable = print,
    trust: bool = False,
) -> bool:
    base = Path(tempfile.mkdtemp(prefix="scaffold-smoke-"))
    failures = 0
    width = max((len(p.stem) for p in paths), default=0)
    try:
        for path in paths:
            started = time.perf_counter()
            try:
                smoke_one(path, base, template, trust)
                verdict = "ok"
            except (BlueprintError, UsageError, SmokeFailure) as error:
                failures += 1
                verdict = "FAIL  " + str(error).strip().splitlines()[0][:300]
            seconds = time.perf_counter() - started
            echo(f"{path.stem.ljust(width)}  {seconds:6.1f}s  {verdict}")
    finally:
        if keep:
            echo(f"projects kept in {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)
    echo(f"{len(paths) - failures} of {len(paths)} blueprints passed")
    return failures == 0


def smoke_one(path: Path, base: Path, template: str | None = None, trust: bool = False) -> None:
    blueprint = load_blueprint(path)
    dest = base / path.stem
    package = package_name_for(path.stem)
    new_project(blueprint, dest, package, template=template, git=False, trust=trust)
    project = Project(package, blueprint)
    env = {**os.environ, "PYTHONPATH": str(dest) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    _step("black", [sys.executable, "-m", "black", "--check", "-q", "."], dest, env)
    _step(
        "tests",
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "tests"],
        dest,
        env,
    )
    command = [
        sys.executable, "-m", f"{package}.train", "--device", "cpu", "--dataset", "synthetic",
        "--epochs", "1", "--batch-size", "2", "--limit-batches", "2",
        "--out", str(dest / "runs" / "smoke"),
    ]  # fmt: skip
    # loading in the training process: two batches need no worker processes (projects whose data
    # is a tensor in memory have none)
    in_process = ["--workers", "0"] if project.pieces.loader_workers else []
    command += in_process
    if project.plan.size_agnostic:
        command += ["--image-size", str(project.run.smoke_image_size)]
    if project.pretrained:
        command.append("--no-pretrained")
    _step("training", command, dest, env)
    evaluate = [
        sys.executable, "-m", f"{package}.evaluate", "--device", "cpu", "--dataset", "synthetic",
        "--checkpoint", str(dest / "runs" / "smoke" / "last.pt"), "--limit-batches", "1",
        "--batch-size", "2", *in_process,
    ]  # fmt: skip
    _step("evaluation", evaluate, dest, env)


def _step(name: str, command: list[str], cwd: Path, env: dict) -> None:
    try:
        done = subprocess.run(
            command,
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=STEP_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise SmokeFailure(f"{name}: took longer than {STEP_TIMEOUT} s") from None
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip().splitlines()
        last = next((line for line in reversed(output) if line.strip()), "no output")
        raise SmokeFailure(f"{name} failed (exit {done.returncode}): {last.strip()}")
