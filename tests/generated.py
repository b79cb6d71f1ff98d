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


@cache
def _model_template():
    from jinja2 import Environment, FileSystemLoader

    from scaffold.jinja_ext import ScaffoldExtension

    environment = Environment(
        loader=FileSystemLoader(str(REPO / "templates")),
        extensions=[ScaffoldExtension],
        keep_trailing_newline=True,
    )
    return environment.get_template("{{ package_name }}/model.py.jinja")


def model_module(blueprint, package: str = "proj") -> dict:
    """The generated model.py of a blueprint (rendered from the template as a project gets it),
    executed: its namespace."""
    code = _model_template().render(blueprint=blueprint.raw, package_name=package)
    namespace = {"__name__": f"{package}.model"}
    exec(compile(code, f"{package}/model.py", "exec"), namespace)
    return namespace


def blueprint_with_layers(name: str, layers: list, size: int = 224, classes: int = 1000):
    """A blueprint of an ImageNet-style model with these layers (plain data)."""
    from scaffold.blueprint import blueprint_from_data

    return blueprint_from_data(
        {
            "name": name,
            "input": {"channels": 3, "height": size, "width": size},
            "model": {"layers": layers},
            "data": {"classes": classes},
            "train": {"epochs": 1},
        }
    )
