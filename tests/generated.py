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

    from scaffold.jinja_ext import ScaffoldContext, ScaffoldExtension

    environment = Environment(
        loader=FileSystemLoader(str(REPO / "templates")),
        extensions=[ScaffoldExtension, ScaffoldContext],
        keep_trailing_newline=True,
    )
    return environment.get_template("{{ package_name }}/model.py.jinja")


def model_module(blueprint, package: str = "proj") -> dict:
    """The generated model.py of a blueprint (rendered from the template as a project gets it),
    executed: its namespace."""
    code = _model_template().render(blueprint=blueprint.raw, package_name=package, _copier_conf={})
    namespace = {"__name__": f"{package}.model"}
    exec(compile(code, f"{package}/model.py", "exec"), namespace)
    return namespace


def blueprint_with_layers(
    name: str, layers: list, size: int = 224, classes: int = 1000, blocks: dict | None = None
):
    """A blueprint of an ImageNet-style model with these layers and defined blocks (plain data)."""
    from scaffold.blueprint import blueprint_from_data

    return blueprint_from_data(
        {
            "name": name,
            "input": {"channels": 3, "height": size, "width": size},
            "blocks": blocks or {},
            "model": {"layers": layers},
            "data": {"classes": classes},
            "train": {"epochs": 1},
        }
    )


def agrees_with_torchvision(blueprint, arch: str, size: int | None = None, **tv_kwargs) -> None:
    """The blueprint's generated model takes torchvision's `arch` state_dict (random init:
    nothing can be downloaded) with strict=True and computes the same function in eval mode, at
    the blueprint's input size unless `size` is given (atol 1e-4)."""
    import torch
    import torchvision

    plan = build_plan(blueprint, (size, size) if size else None)
    model_class = model_module(blueprint)[plan.class_name]
    torch.manual_seed(0)
    theirs = torchvision.models.get_model(arch, weights=None, **tv_kwargs).eval()
    with torch.device("meta"):  # no time spent initialising weights that are replaced anyway
        ours = model_class()
    ours.load_state_dict(theirs.state_dict(), strict=True, assign=True)
    ours.eval()
    x = torch.randn(2, *plan.input_shapes["image"].dims)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=1e-4)


def small_san(name: str, answers: int, train: dict, **more) -> dict:
    """A blueprint (plain data) of the bundled SAN's layers, small, at 32x32, on VQA data."""
    return {
        "name": name,
        "input": {
            "image": {"channels": 3, "height": 32, "width": 32},
            "question": {"max_length": 8},
        },
        "model": {
            "class_name": "SAN",
            "image": [{"vgg": {"cfg": [8, "M", 16, "M"]}}, {"project_regions": {"out": 32}}],
            "question": [{"embedding": 16}, {"lstm": 32}],
            "head": [
                {
                    "stacked_attention": {
                        "hops": 2,
                        "attention": 16,
                        "dropout": 0.5,
                        "form": "paper",
                    }
                },
                {"linear": {"out": "classes", "name": "classifier"}},
            ],
        },
        "data": {
            "dataset": "vqa",
            "answers": answers,
            "normalize": "imagenet",
            "transforms": {"train": [{"resize": [32, 32]}], "eval": [{"resize": [32, 32]}]},
        },
        "train": train,
        **more,
    }


def stopping_after(train, steps: int):
    """The generated train module's Stop, asked to stop (as by Ctrl-C) once `steps` steps have
    asked it: in the middle of an epoch, in this process."""

    class StopsAfter(train.Stop):
        asked = 0

        @property
        def requested(self) -> bool:
            StopsAfter.asked += 1
            return StopsAfter.asked > steps

        @requested.setter
        def requested(self, value) -> None:
            pass

    return StopsAfter
