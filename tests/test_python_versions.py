"""The Python versions scaffold and its projects declare are the ones CI checks: the tool and every
generated project say the same lowest version, black formats for it, and CI runs the lowest
(.ci/run) and the newest (.ci/newest-python)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from jinja2 import Environment, FileSystemLoader

from scaffold.blueprint import load_blueprint
from scaffold.formatting import TARGETS, black_mode
from scaffold.jinja_ext import ScaffoldContext, ScaffoldExtension

REPO = Path(__file__).resolve().parent.parent


def lowest(requires: str) -> tuple[int, int]:
    major, minor = re.fullmatch(r">=(\d+)\.(\d+)", requires).groups()
    return int(major), int(minor)


def test_the_tool_and_its_projects_declare_the_same_lowest_python():
    tool = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    environment = Environment(
        loader=FileSystemLoader(str(REPO / "templates")),
        extensions=[ScaffoldExtension, ScaffoldContext],
    )
    blueprint = load_blueprint(REPO / "blueprints" / "lenet.yaml")
    text = environment.get_template("pyproject.toml.jinja").render(
        blueprint=blueprint.raw, package_name="lenet", _copier_conf={}
    )
    project = tomllib.loads(text)
    version = lowest(tool["project"]["requires-python"])
    assert version == lowest(project["project"]["requires-python"]) == (3, 11)
    assert tool["tool"]["ruff"]["target-version"] == f"py{version[0]}{version[1]}"
    # black formats generated code for the versions a project's pyproject.toml gives it
    assert TARGETS == f"py{version[0]}{version[1]}+"
    assert min(v.value for v in black_mode().target_versions) == version[1]


def test_ci_checks_the_lowest_and_the_newest_python():
    run = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    newest = (REPO / ".ci" / "newest-python").read_text(encoding="utf-8")
    assert "\n.ci/newest-python\n" in run and "python -m pytest -n 2\n" in run
    assert "versions/3.13." in newest  # pyenv's newest Python here
    for step in ("pip install -q -e .", "scaffold new --blueprint", "python -m pytest"):
        assert step in newest
