"""Every bundled blueprint generates a project that is formatted, lint-clean, matches the shapes
and parameter count `scaffold inspect` computes, trains for two steps on a CPU through its own
command line, and passes its own tests."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from conftest import BLUEPRINTS
from generated import import_generated, project_for

from scaffold.smoke import smoke_one

NAMES = [path.stem for path in BLUEPRINTS]


@pytest.mark.parametrize("name", NAMES)
def test_generated_code_is_black_and_ruff_clean(name, generated_root):
    dest, _ = project_for(name, generated_root)
    black = subprocess.run(
        [sys.executable, "-m", "black", "--check", "-q", "."],
        cwd=dest,
        capture_output=True,
        text=True,
    )
    assert black.returncode == 0, black.stderr
    ruff = subprocess.run(
        [
            sys.executable,
            "-m",
            "ruff",
            "check",
            "-q",
            "--no-cache",
            "--select",
            "F",
            "--isolated",
            ".",
        ],
        cwd=dest,
        capture_output=True,
        text=True,
    )
    assert ruff.returncode == 0, ruff.stdout + ruff.stderr


@pytest.mark.parametrize("name", NAMES)
def test_model_matches_the_inferred_shapes_and_parameter_count(name, generated_root):
    dest, project = project_for(name, generated_root)
    model_module = import_generated(dest, "model")
    plan = project.plan
    model = getattr(model_module, plan.class_name)().eval()
    assert sum(p.numel() for p in model.parameters()) == plan.total_params
    c, h, w = plan.input_shapes["image"].dims
    if plan.size_agnostic:  # the same weights at a small size: fast on a CPU
        h = w = project.smoke_image_size
    images = torch.randn(2, c, h, w)
    with torch.no_grad():
        if project.is_vqa:
            out = model(images, torch.randint(1, 50, (2, 7)))
        else:
            out = model(images)
    assert tuple(out.shape) == (2, *plan.output_shape.dims)


@pytest.mark.parametrize("name", NAMES)
def test_smoke_tests_and_training(name, tmp_path):
    """`scaffold smoke`'s steps: generate, black, the project's own tests, a 2-step CPU
    training through `python -m PKG.train`, and an evaluation of its checkpoint."""
    smoke_one(BLUEPRINTS[NAMES.index(name)], tmp_path)
