"""Virtual environments for tests that install scaffold as a user does (from a wheel).

A test venv sees the packages of the environment running the tests (black, copier, jinja2...:
a `.pth` file names that environment's site-packages folders), but not scaffold: not a checkout
on PYTHONPATH, not an editable install (other `.pth` files there are not run). scaffold comes
only from a wheel installed into the venv with `--no-deps`. This works the same when the tests
run in a venv of their own and in the system Python (`system_site_packages` would show a venv's
base interpreter instead).
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def running_site_packages() -> list[str]:
    """The site-packages folders of the running environment (a venv's and its base's)."""
    folders = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    folders.update(
        p for p in sys.path if p.rstrip(os.sep).endswith(("site-packages", "dist-packages"))
    )
    return sorted(f for f in folders if Path(f).is_dir())


class Venv:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.bin = path / ("Scripts" if os.name == "nt" else "bin")
        self.python = self.bin / "python"

    @classmethod
    def create(cls, path: Path) -> Venv:
        venv.create(path, with_pip=False, symlinks=os.name != "nt")
        env = cls(path)
        purelib = env.run_python(
            "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"
        ).stdout.strip()
        lines = [p for p in running_site_packages() if p != purelib]
        Path(purelib, "_running_environment.pth").write_text("\n".join(lines) + "\n")
        return env

    def env(self, **extra: str) -> dict:
        """The environment a user's shell would have: this venv first, no PYTHONPATH."""
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        env["PATH"] = str(self.bin) + os.pathsep + env.get("PATH", "")
        env["VIRTUAL_ENV"] = str(self.path)
        env.update(extra)
        return env

    def run_python(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(self.python), *args],
            capture_output=True,
            text=True,
            env=kwargs.pop("env", None) or self.env(),
            timeout=kwargs.pop("timeout", 600),
            **kwargs,
        )

    def install(self, wheel: Path) -> None:
        done = subprocess.run(
            [sys.executable, "-m", "pip", "--python", str(self.python), "install", "-q"]
            + ["--no-deps", "--no-index", "--disable-pip-version-check", str(wheel)],
            capture_output=True,
            text=True,
            timeout=600,
            env=self.env(),
        )
        assert done.returncode == 0, done.stdout + done.stderr


def build_wheel(source: Path, out: Path) -> Path:
    """`pip wheel` of a scaffold source tree (with hatchling, no network)."""
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
        + ["--disable-pip-version-check", "-w", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (wheel,) = out.glob("scaffold-*.whl")
    return wheel
