"""What generated files say: no tool version in them (the answers file records it), and README
sentences that are true of the project's blueprint (no decodings, augmentation or batch norm that
the project lacks). Rendered from the template as copier renders it, without writing a project."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest
from jinja2 import Environment, FileSystemLoader

from scaffold.blueprint import load_blueprint
from scaffold.jinja_ext import ScaffoldContext, ScaffoldExtension
from scaffold.project import Project

REPO = Path(__file__).resolve().parent.parent
TEMPLATES = REPO / "templates"
NAMES = sorted(path.stem for path in (REPO / "blueprints").glob("*.yaml"))
# every file whose text a release could change, besides the answers file
PACKAGE_FILES = ["README.md.jinja", "{{ package_name }}/model.py.jinja"]
PACKAGE_FILES += ["{{ package_name }}/__init__.py.jinja"]


@cache
def _environment(version: str) -> Environment:
    environment = Environment(
        # the template's files, and the partials they import by their path in the repository
        loader=FileSystemLoader([str(TEMPLATES), str(REPO)]),
        extensions=[ScaffoldExtension, ScaffoldContext],
        keep_trailing_newline=True,
    )
    environment.globals["scaffold_version"] = version
    return environment


@cache
def _blueprint(name: str):
    return load_blueprint(REPO / "blueprints" / f"{name}.yaml")


def render(name: str, template: str, version: str = "0.1.0") -> str:
    template = _environment(version).get_template(template)
    # `_copier_conf`: copier's own answer, which the context hook waits for
    return template.render(blueprint=_blueprint(name).raw, package_name=name, _copier_conf={})


def test_only_the_answers_file_names_the_tool_version():
    users = [
        path.relative_to(TEMPLATES).as_posix()
        for path in TEMPLATES.rglob("*.jinja")
        if "scaffold_version" in path.read_text(encoding="utf-8")
    ]
    assert users == ["{{ _copier_conf.answers_file }}.jinja"]


@pytest.mark.parametrize("template", PACKAGE_FILES)
def test_a_new_release_changes_no_generated_file(template):
    # an update after a release must not touch the first lines of every file
    for name in ("lenet", "bcnn_vgg16"):
        assert render(name, template, "0.1.0") == render(name, template, "9.8.7")
        assert "0.1.0" not in render(name, template).split("\n## Install")[0]


@pytest.mark.parametrize("name", NAMES)
def test_readme_speaks_only_of_what_the_project_has(name):
    text = render(name, "README.md.jinja")
    readme = " ".join(text.split())  # phrases across line breaks
    project = Project(name, _blueprint(name))
    x = project.pieces
    assert "colour family" not in readme  # the synthetic data draws one shape per class
    assert ("one shape each" in readme) is not x.vqa
    assert ("both decodings" in readme) is False
    assert ("decoding on the CPU and the GPU" in readme) is x.gpu_decode
    assert ("augmentation is seeded per sample" in readme) is x.random_augmentation
    assert ("per sample" in readme) is x.random_augmentation
    assert ("frozen batch-norm" in readme) is (
        project.run.has_phases and project.plan.has_batch_norm
    )
    train = project.blueprint.train
    assert ("**Label smoothing**" in readme) is bool(train.label_smoothing)
    assert ("**Gradient clipping**" in readme) is bool(train.grad_clip)
    if train.grad_clip:
        assert f"total norm of at most {train.grad_clip} (`train.grad_clip`" in readme
    data = text.split("## Data")[1].split("`--data-root DIR` accepts")[0]
    assert max(len(line) for line in data.splitlines()) <= 100


def test_lenet_readme_has_no_augmentation_and_one_decoding():
    readme = render("lenet", "README.md.jinja")
    words = " ".join(readme.split())
    assert "procedurally drawn shapes in 10 classes, one shape each" in words
    assert "the data order is seeded per epoch, so a resumed CPU run" in words
    assert "and end to end, with the real loader" in readme
    assert "decod" not in readme.split("## Speed")[1].split("## Several")[0]


@pytest.mark.parametrize("name", NAMES)
def test_only_a_model_with_bilinear_pooling_tests_and_documents_its_float32(name):
    """The promise of true float32 (README) and the generated test that holds it to it come with
    the pooling, and only with it."""
    has_pooling = "bilinear_pool" in render(name, "{{ package_name }}/model.py.jinja")
    tests = render(name, "tests/test_model.py.jinja")
    assert ("def test_bilinear_pooling_multiplies_in_true_float32" in tests) is has_pooling
    readme = " ".join(render(name, "README.md.jinja").split())
    assert ("not in the bilinear pooling, which stays in true float32" in readme) is has_pooling
