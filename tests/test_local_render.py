"""`scaffold new` renders a local template without running copier (its import, clone and per-file
git calls cost most of a second); the result must be exactly copier's."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from conftest import REPO

from scaffold.blueprint import load_blueprint
from scaffold.render import _render_with_copier, render_project, template_source


def tree(root: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(p.relative_to(root)): (p.read_bytes(), os.stat(p).st_mode)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize("name", ["lenet", "bcnn_vgg16", "san_vgg_lstm", "se_resnet50"])
def test_local_rendering_is_exactly_copiers(name, tmp_path):
    blueprint = load_blueprint(REPO / "blueprints" / f"{name}.yaml")
    source = template_source(None)
    assert source.renders_locally
    ours, theirs = tmp_path / "ours", tmp_path / "copier"
    ours.mkdir()
    theirs.mkdir()
    render_project(blueprint, "pkg", source, ours)
    _render_with_copier(source, theirs, {"package_name": "pkg", "blueprint": blueprint.raw})
    mine, copiers = tree(ours), tree(theirs)
    assert mine.keys() == copiers.keys()
    dirty = subprocess.run(
        ["git", "-C", str(REPO), "status", "--porcelain"], capture_output=True, text=True
    ).stdout
    for name_ in mine:
        if name_ == ".copier-answers.yml" and dirty:  # copier commits the changes in its clone
            continue
        assert mine[name_] == copiers[name_], name_


def test_other_versions_and_remote_templates_go_through_copier(tmp_path):
    assert not template_source(None, vcs_ref="v0.0.1").renders_locally
    assert not template_source("https://example.com/team/template.git").renders_locally
    assert not template_source(str(REPO)).renders_locally  # a team template: its newest tag
