"""examples/ holds a generated project per bundled blueprint, for readers, and one per blueprint of
its own (examples/NAME.yaml: everything_on, every training feature that can coexist, so that every
optional branch of the template has committed output); they must stay what the blueprints and the
current template give (`scaffold check`, as CI runs it)."""

from __future__ import annotations

import pytest
from conftest import BLUEPRINTS, REPO, run_scaffold

from scaffold.smoke import smoke_one

OWN = sorted((REPO / "examples").glob("*.yaml"))  # the examples' own blueprints
NAMES = [path.stem for path in BLUEPRINTS + OWN]


def test_every_bundled_blueprint_has_an_example():
    examples = {
        p.name for p in (REPO / "examples").iterdir() if (p / ".copier-answers.yml").is_file()
    }
    assert examples == set(NAMES), "run examples/regenerate.sh"


@pytest.mark.parametrize("name", NAMES)
def test_example_is_current(name):
    result = run_scaffold("check", REPO / "examples" / name, "--template", REPO)
    assert result.code == 0, result.out[-3000:] + result.err + "\nrun examples/regenerate.sh"


def test_everything_on_switches_on_every_feature_of_a_classifier():
    from scaffold.blueprint import load_blueprint
    from scaffold.project import Project

    pieces = Project(
        "everything_on", load_blueprint(REPO / "examples" / "everything_on.yaml")
    ).pieces
    # what cannot coexist with the rest (the blueprint's header says why)
    left_out = {"vqa", "cub", "in_memory", "tensor_images", "on_device", "phases"}
    left_out |= {"feature_cache", "pretrained", "convert_channels", "torchvision"}
    off = {name for name, value in vars(pieces).items() if not value}
    assert off == left_out
    from scaffold.features import FEATURES  # and every unit but those that cannot coexist

    # the data path's: an image folder, a small CNN, and a per-step schedule (the plateau
    # schedule steps once an epoch); CUDA graphs need the data on the device and refuse batch
    # mixing; one recipe, no phases
    data_path_left_out = {"vqa", "on_device", "pretrained", "torchvision_data", "plateau"}
    left_out = {"feature_cache", "cuda_graph", "phases"} | data_path_left_out
    assert set(pieces.features) == {unit.name for unit in FEATURES} - left_out


@pytest.mark.slow
def test_everything_on_smoke(tmp_path):
    """Its project's own tests and a short CPU training: every feature at work together."""
    smoke_one(REPO / "examples" / "everything_on.yaml", tmp_path)
