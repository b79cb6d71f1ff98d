"""The data path's pieces of train.py are units too (issue 26, item 3's train skeleton): images read
from files (undecodable ones skipped and counted), GPU decoding, data on the device, loader
workers, other image sizes, torchvision's data, pretrained weights, VQA, and the schedule's
interval (per step, plateau). Each is a module of scaffold/features/ with no blueprint field of its
own: the data, the recipe's schedules or the model's plan decide it, by the same rule the project
decided it by before (the Pieces the other templates read), and its code is in a generated train.py
exactly when it is on. The bundled examples cover each unit on and off."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import REPO

from scaffold.blueprint import load_blueprint, schedule_interval
from scaffold.features import FEATURES
from scaffold.project import Project

EXAMPLES = REPO / "examples"
CORPUS = REPO / "tests" / "corpus" / "blueprints"

# what each unit's code prints in train.py, and nothing else does
MARKS = {  # (text black never wraps: a string, a comment)
    "undecodable": '"--skip-bad-images"',
    "gpu_decode": "class Decoded:",
    "on_device": '"--data-on-device"',
    "loader_workers": '"--workers"',
    "image_size": '"--image-size"',
    "torchvision_data": '"--download"',
    "pretrained": '"--no-pretrained"',
    "per_step": "# the rate at the epoch's end",
    "plateau": "resuming keeps the plateau schedule's rate",
    "vqa": "datasets.save_vocabularies(out)",
}


def _rule(name: str, project: Project) -> bool:
    """Whether a project has the unit `name`, by the rule the project used before it was a unit."""
    bp, x = project.blueprint, project.pieces
    train = bp.train
    written = [train.schedule] + [phase.schedule for phase in train.phases or []]
    rules = {
        "undecodable": not bp.in_memory,
        "gpu_decode": bp.data.dataset in ("image_folder", "cub", "vqa"),
        "on_device": bp.data.on_device,
        "loader_workers": bp.loader_workers,
        "image_size": project.plan.size_agnostic,
        "torchvision_data": bp.data.dataset in ("mnist", "cifar10"),
        "pretrained": bool(project.plan.pretrained),
        "per_step": any(s and schedule_interval(bp, s) == "step" for s in written),
        "plateau": "plateau" in x.schedules,
        "vqa": bp.is_vqa,
    }
    return rules[name]


def _examples() -> list[tuple[str, Path]]:
    """Each generated example with the blueprint it was made from."""
    found = []
    for folder in sorted(
        path for path in EXAMPLES.iterdir() if (path / "pyproject.toml").is_file()
    ):
        for blueprint in (
            REPO / "blueprints" / f"{folder.name}.yaml",
            EXAMPLES / f"{folder.name}.yaml",
        ):
            if blueprint.is_file():
                found.append((folder.name, blueprint))
    return found


@pytest.fixture(scope="module")
def projects() -> dict[Path, Project]:
    """The bundled blueprints', the examples' and the corpus' projects, by file."""
    files = sorted({blueprint for _, blueprint in _examples()} | set(CORPUS.glob("*.yaml")))
    return {path: Project("pkg", load_blueprint(path)) for path in files}


def test_every_data_path_unit_has_no_field_and_its_code_mark():
    names = {unit.name for unit in FEATURES}
    assert set(MARKS) <= names
    for unit in FEATURES:
        if unit.name in MARKS:
            assert not (unit.fields or unit.phase_fields or unit.blueprint_fields), unit.name
            assert not unit.schedule_fields, unit.name


@pytest.mark.parametrize("name", sorted(MARKS))
def test_a_data_path_unit_is_on_by_its_old_rule(name, projects):
    """The unit decides as the project did (the other templates still read its Pieces), and
    on_blueprint agrees with on_project where the blueprint alone decides."""
    (unit,) = [unit for unit in FEATURES if unit.name == name]
    for file, project in projects.items():
        on = name in project.pieces.features
        assert on == _rule(name, project), (name, file)
        if name not in ("image_size", "pretrained"):  # the model's plan decides those
            assert unit.on_blueprint(project.blueprint) == on, (name, file)


@pytest.mark.parametrize("name", sorted(MARKS))
def test_a_data_path_units_code_is_in_train_py_exactly_when_it_is_on(name, projects):
    """The generated examples' train.py (examples/, re-rendered by CI) hold the unit's code
    exactly where the project has it; the examples have it on in one at least, and off."""
    seen = set()
    for folder, blueprint in _examples():
        text = (EXAMPLES / folder / folder / "train.py").read_text(encoding="utf-8")
        on = name in projects[blueprint].pieces.features
        assert (MARKS[name] in text) == on, (name, folder)
        seen.add(on)
    assert seen == {True, False}, f"no example has {name} {'off' if True in seen else 'on'}"
