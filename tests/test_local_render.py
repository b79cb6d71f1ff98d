"""`scaffold new` renders a template checkout without running copier (its import, clone and
per-file git calls cost most of a second); the result must be exactly copier's, with the same
engine: the one copier loads by its path from the template (scaffold/copier_extension.py)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from conftest import ENGINE_EXTENSIONS, INSTALLED_EXTENSIONS, REPO
from template_repos import change_planner, copy_template, edit, git, init_repo, template_repo

from scaffold.blueprint import load_blueprint
from scaffold.local_template import local_render_problem
from scaffold.render import _render_with_copier, render_project, template_source

LENET = REPO / "blueprints" / "lenet.yaml"


def tree(root: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(p.relative_to(root)): (p.read_bytes(), os.stat(p).st_mode)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def both(source, tmp_path: Path, name: str = "lenet", dirty: bool = False):
    """The same project rendered by scaffold's local renderer and by copier."""
    blueprint = load_blueprint(REPO / "blueprints" / f"{name}.yaml")
    ours, theirs = tmp_path / "ours", tmp_path / "copier"
    ours.mkdir()
    theirs.mkdir()
    render_project(blueprint, "pkg", source, ours)
    _render_with_copier(source, theirs, {"package_name": "pkg", "blueprint": blueprint.raw})
    mine, copiers = tree(ours), tree(theirs)
    assert mine.keys() == copiers.keys()
    for name_ in mine:
        if name_ == ".copier-answers.yml" and dirty:  # copier commits the changes in its clone
            continue
        assert mine[name_] == copiers[name_], name_
    return ours


# squeezenet1_1: a defined block whose parameters are not in alphabetical order (the answers
# file keeps their order for copier too)
@pytest.mark.parametrize(
    "name", ["lenet", "bcnn_vgg16", "san_vgg_lstm", "se_resnet50", "squeezenet1_1"]
)
def test_local_rendering_is_exactly_copiers(name, tmp_path):
    source = template_source(None)
    assert source.renders_locally
    dirty = subprocess.run(
        ["git", "-C", str(REPO), "status", "--porcelain"], capture_output=True, text=True
    ).stdout
    both(source, tmp_path, name, dirty=bool(dirty))


def test_a_forks_engine_renders_its_projects_locally_as_with_copier(tmp_path):
    """A team's template with an engine of its own (a planner change): both renderers use the
    fork's engine, not the installed scaffold."""
    fork = copy_template(tmp_path / "fork")
    change_planner(fork)
    init_repo(fork)
    source = template_source(str(fork), trust=True)
    assert source.renders_locally and source.vcs_ref == "v1"  # its newest tag is its HEAD
    project = both(source, tmp_path)
    model = (project / "pkg" / "model.py").read_text(encoding="utf-8")
    assert "# (B, 120)" in model and "# (N, " not in model


def test_a_template_from_before_path_loaded_engines_renders_as_with_copier(tmp_path):
    """Template versions generated before engines travelled with templates name the installed
    package's extension (a dotted name): it must stay importable, and render the same."""
    old = copy_template(tmp_path / "old")
    edit(
        old / "copier.yml",
        ENGINE_EXTENSIONS,
        INSTALLED_EXTENSIONS,
    )
    init_repo(old)
    both(template_source(str(old), trust=True), tmp_path)


def test_templates_that_need_copier_go_through_copier(tmp_path):
    team = copy_template(tmp_path / "team")
    assert local_render_problem(team, {"package_name": "p", "blueprint": {}}) == ""
    with (team / "copier.yml").open("a", encoding="utf-8") as f:
        f.write("\nteam_name:\n  type: str\n  default: vision\n")
    (team / "templates" / "TEAM.md.jinja").write_text("Team {{ team_name }}\n", encoding="utf-8")
    init_repo(team)
    data = {"package_name": "p", "blueprint": {}}
    assert "team_name" in local_render_problem(team, data)
    project = both(template_source(str(team), trust=True), tmp_path)
    assert (project / "TEAM.md").read_text(encoding="utf-8") == "Team vision\n"


def test_other_versions_and_remote_templates_are_cloned(tmp_path):
    assert not template_source(None, vcs_ref="v0.0.1").renders_locally
    assert not template_source("https://example.com/team/template.git").renders_locally
    team = template_repo(tmp_path / "team")
    assert template_source(str(team), trust=True).renders_locally  # newest tag v1 is HEAD, clean
    edit(team / "templates" / "README.md.jinja", "## Install\n", "## Install (v1.1)\n")
    git(team, "commit", "-q", "-am", "after v1")
    source = template_source(str(team), trust=True)
    assert source.vcs_ref == "v1" and not source.renders_locally  # v1 is not HEAD any more
    project = both(source, tmp_path)
    assert "## Install (v1.1)" not in (project / "README.md").read_text(encoding="utf-8")
