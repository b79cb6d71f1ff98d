"""Generating bundled blueprints once per test session, and importing the generated modules."""

from __future__ import annotations

import importlib
import sys
from functools import cache
from pathlib import Path

from scaffold.blueprint import load_blueprint
from scaffold.plan import build_plan
from scaffold.project import Project
from scaffold.render import new_project

REPO = Path(__file__).resolve().parent.parent


@cache
def project_for(name: str, root: str) -> tuple[Path, Project]:
    """Generate blueprints/NAME.yaml into ROOT/NAME (once), returning the folder and its Project."""
    blueprint = load_blueprint(REPO / "blueprints" / f"{name}.yaml")
    dest = Path(root) / name
    if not dest.exists():
        new_project(blueprint, dest, name, git=False)
    return dest, Project(name, blueprint)


def import_generated(dest: Path, module: str):
    """Import PKG.MODULE of a generated project (each project has its own package name)."""
    if str(dest) not in sys.path:
        sys.path.insert(0, str(dest))
    return importlib.import_module(f"{dest.name}.{module}")


def build(blueprint_path: Path):
    blueprint = load_blueprint(blueprint_path)
    return blueprint, build_plan(blueprint)
