"""Every bundled blueprint generates a project that is formatted, lint-clean, matches the shapes
and parameter count `scaffold inspect` computes, passes gradients to every parameter, trains for two
steps on a CPU through its own command line, and passes its own tests.

The end-to-end smoke (the last two) takes a minute or so per blueprint on 2 cores. It runs by
default for an in-memory data set (lenet, through `scaffold smoke` in test_cli) and for image files
with two training phases (bcnn_vgg16); the other data paths train by default in their own tests
(VQA in test_vqa and test_export, the data on the device in test_input_paths). The smoke of every
other blueprint is in the `slow` set (`python -m pytest -m slow`), which CI runs too, but for the
members of a family: blueprints whose generated code differs from their representative's only in
model.py, names and literal values (a VGG-11 and a VGG-19) run the same code paths, which a test
below holds true, and their model.py is what the first tests here check."""

from __future__ import annotations

import io
import subprocess
import sys
import tokenize
from pathlib import Path

import pytest
import torch
from conftest import BLUEPRINTS
from generated import import_generated, project_for

from scaffold.smoke import smoke_one

NAMES = [path.stem for path in BLUEPRINTS]

# Each family's representative -> the blueprints whose generated code is the same but for model.py.
# (resnet50 is no member: its recipe's weight decay groups and per-step warm-up are code of its
# own, so it is smoked too; googlenet is none either: its auxiliary heads' loss is code of its own)
FAMILIES = {
    "resnet18": ["mobilenet_v2", "resnext50_32x4d", "wide_resnet50_2"],
    "googlenet": ["inception_v3"],
    "vgg11": ["vgg13", "vgg16", "vgg19"],
    "squeezenet1_1": ["alexnet", "vgg16_bn"],
    "shufflenet_v2_x1_0": ["regnet_y_400mf", "regnet_x_400mf"],
    "convnext_tiny": ["convnext_small"],
    "efficientnet_b0": ["efficientnet_b1"],
    "mobilenet_v3_small": ["mobilenet_v3_large"],
    "swin_t": ["swin_v2_t"],
}
MEMBERS = {member for members in FAMILIES.values() for member in members}
SMOKED_BY_DEFAULT = {"bcnn_vgg16"}  # and lenet, in test_cli's test of `scaffold smoke`
# The others' smoke is the slow set, ViT-B/16's and MaxViT-T's included: they take 224 px only, so
# their projects' own tests train at full size, but in few steps of 4 images (benchmarks/RESULTS.md
# has their smoke's time).
SMOKED = [name for name in NAMES if name not in MEMBERS and name != "lenet"]


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
    """And, in training mode, gradients reach every parameter (the projects' own test_model.py
    checks the same, in the smoke)."""
    dest, project = project_for(name, generated_root)
    model_module = import_generated(dest, "model")
    plan = project.plan
    model = getattr(model_module, plan.class_name)().eval()
    assert sum(p.numel() for p in model.parameters()) == plan.total_params
    c, h, w = plan.input_shapes["image"].dims
    if plan.size_agnostic:  # the same weights at a small size: fast on a CPU
        h = w = project.run.smoke_image_size
    torch.manual_seed(0)
    inputs = [torch.randn(2, c, h, w)]
    if project.is_vqa:
        inputs.append(torch.randint(1, 50, (2, 7)))
    with torch.no_grad():
        out = model(*inputs)
    assert tuple(out.shape) == (2, *plan.output_shape.dims)
    model.train()
    if plan.auxiliary:  # in training, the auxiliary heads' scores too
        logits, aux_logits = model(*inputs)
        (logits.sum() + sum(aux.sum() for aux in aux_logits)).backward()
    else:
        model(*inputs).sum().backward()
    missing = [name for name, param in model.named_parameters() if param.grad is None]
    assert not missing, f"no gradient for {missing}"


@pytest.mark.parametrize(
    "name",
    [n if n in SMOKED_BY_DEFAULT else pytest.param(n, marks=pytest.mark.slow) for n in SMOKED],
)
def test_smoke_tests_and_training(name, tmp_path):
    """`scaffold smoke`'s steps: generate, black, the project's own tests, a 2-step CPU
    training through `python -m PKG.train`, and an evaluation of its checkpoint."""
    smoke_one(BLUEPRINTS[NAMES.index(name)], tmp_path)


TRAILING = {(",", ")"), (",", "]"), (",", "}")}


def project_and_class(name: str, root: str) -> tuple[Path, str]:
    dest, project = project_for(name, root)
    return dest, project.plan.class_name


def code_tokens(dest: Path, model_class: str) -> dict[str, list[str]]:
    """A generated project's Python code but model.py, as tokens: the package and model class
    names, strings and numbers as placeholders; comments, line breaks and the trailing commas
    black adds where it breaks a line left out."""
    package = dest.name
    placeholders = {package: "PACKAGE", model_class: "MODEL"}
    code = {}
    for path in sorted(dest.rglob("*.py")):
        if path.name in ("model.py", "__init__.py"):  # __init__.py: the description
            continue
        tokens = []
        for token in tokenize.generate_tokens(io.StringIO(path.read_text("utf-8")).readline):
            if token.type in (tokenize.COMMENT, tokenize.NL):
                continue
            if token.type in (tokenize.STRING, tokenize.NUMBER):
                tokens.append(tokenize.tok_name[token.type])
            else:
                tokens.append(placeholders.get(token.string, token.string))
        tokens = [t for t, after in zip(tokens, tokens[1:] + [""]) if (t, after) not in TRAILING]
        code[str(path.relative_to(dest)).replace(package, "PACKAGE")] = tokens
    return code


@pytest.mark.parametrize(
    "member, representative",
    [(member, rep) for rep, members in FAMILIES.items() for member in members],
)
def test_a_family_shares_all_code_but_the_model(member, representative, generated_root):
    """What lets the smoke leave out a family's members: their code paths are the
    representative's."""
    member_code = code_tokens(*project_and_class(member, generated_root))
    representative_code = code_tokens(*project_and_class(representative, generated_root))
    assert sorted(member_code) == sorted(representative_code)
    differing = [f for f in member_code if member_code[f] != representative_code[f]]
    assert not differing, f"{member}'s code differs from {representative}'s in {differing}"
