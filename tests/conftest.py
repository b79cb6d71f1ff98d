"""Shared helpers: the repository's paths, running the real `scaffold` command, writing blueprints."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

# One OpenMP thread per core in all: torch starts one thread per core in every process, so with
# one pytest-xdist worker per core (and the subprocesses the tests run) the threads outnumber the
# cores, and their spin-waiting makes CPU training several times slower (a generated VGG's 2-step
# training: 67 s against 10 s on a busy 2-core machine). Set before torch is imported, and
# inherited by every subprocess the tests start.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // _WORKERS)))

REPO = Path(__file__).resolve().parent.parent
BLUEPRINTS = sorted((REPO / "blueprints").glob("*.yaml"))


@dataclass
class Result:
    code: int
    out: str
    err: str


def run_scaffold(*args: str, cwd: Path | None = None, timeout: int = 600) -> Result:
    """The real command line, in a subprocess, as a user runs it."""
    done = subprocess.run(
        [sys.executable, "-m", "scaffold", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")},
    )
    return Result(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def write_blueprint(tmp_path):
    """Write blueprint text (dedented) to a file and return its path."""

    def write(text: str, name: str = "bp.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return write


@pytest.fixture(scope="session")
def generated_root(tmp_path_factory) -> str:
    """Where bundled blueprints are generated, once per session (see tests/generated.py)."""
    return str(tmp_path_factory.mktemp("generated"))


# copier.yml's extensions as the template has them, and as a template version from before engines
# travelled with templates named them (the installed scaffold's, by dotted names)
ENGINE_EXTENSIONS = (
    "  - copier_template_extensions.TemplateExtensionLoader\n"
    "  - scaffold/copier_extension.py:ScaffoldExtension\n"
    "  - scaffold/copier_extension.py:ScaffoldContext\n"
)
INSTALLED_EXTENSIONS = (
    "  - scaffold.jinja_ext.ScaffoldExtension\n  - scaffold.jinja_ext.ScaffoldContext\n"
)
