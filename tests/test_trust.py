"""A template's own code runs only with the user's consent, as copier asks for it; and a project
records exactly the template version it was rendered from.

The template here is this checkout's, in a repository of its own, whose engine (`scaffold/`)
writes a marker file when it is imported: the marker shows whether any of its code ran. Every
command runs the real `scaffold` in a subprocess, with copier's settings file of the test's own.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ENGINE_EXTENSIONS, INSTALLED_EXTENSIONS, REPO, run_scaffold
from template_repos import (
    TEMPLATE_CHANGES,
    answers,
    apply_changes,
    copy_template,
    edit,
    git,
    init_repo,
)

from scaffold.errors import UsageError
from scaffold.trust import template_code, trusted_in_settings

LENET = REPO / "blueprints" / "lenet.yaml"
MARKER_CODE = (
    "\nimport os as _os\n\nopen(_os.environ['SCAFFOLD_TEST_MARKER'], 'a').write('ran\\n')\n"
)


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """A fixed git identity, no global git config, and copier settings of this test's own."""
    for key in ("GIT_AUTHOR", "GIT_COMMITTER"):
        monkeypatch.setenv(f"{key}_NAME", "Test User")
        monkeypatch.setenv(f"{key}_EMAIL", "test@example.com")
    (tmp_path / "gitconfig").write_text("", encoding="utf-8")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("COPIER_SETTINGS_PATH", str(tmp_path / "copier-settings.yml"))
    monkeypatch.setenv("SCAFFOLD_TEST_MARKER", str(tmp_path / "marker"))


@pytest.fixture
def marker(tmp_path) -> Path:
    return tmp_path / "marker"


@pytest.fixture
def team(tmp_path) -> Path:
    """A team's template, tagged v1, whose engine writes the marker when imported."""
    root = copy_template(tmp_path / "team")
    init = root / "scaffold" / "__init__.py"
    init.write_text(init.read_text(encoding="utf-8") + MARKER_CODE, encoding="utf-8")
    return init_repo(root, "v1")


def trust_in_settings(tmp_path: Path, *entries: str) -> None:
    lines = "".join(f"  - {entry}\n" for entry in entries)
    (tmp_path / "copier-settings.yml").write_text(f"trust:\n{lines}", encoding="utf-8")


def assert_refused(result, marker: Path) -> None:
    assert result.code == 2, result.out + result.err
    assert "runs code of its own (its engine scaffold/)" in result.err, result.err
    assert "pass --trust" in result.err and "settings.yml" in result.err
    assert "Traceback" not in result.err and len(result.err.strip().splitlines()) == 2
    assert not marker.exists(), "the template's code ran without consent"


def test_a_teams_code_runs_only_with_trust_or_copiers_settings(team, marker, tmp_path):
    proj = tmp_path / "proj"
    # without consent: refused before anything is imported or written
    assert_refused(run_scaffold("new", "--blueprint", LENET, "--template", team, proj), marker)
    assert not proj.exists() and not list(tmp_path.glob(".proj.scaffold-*"))
    assert_refused(run_scaffold("validate", LENET, "--template", team), marker)
    assert_refused(run_scaffold("inspect", LENET, "--template", team), marker)
    assert_refused(run_scaffold("schema", "--template", team), marker)
    assert_refused(run_scaffold("smoke", LENET, "--template", team), marker)

    # --trust: it runs
    result = run_scaffold("new", "--trust", "--blueprint", LENET, "--template", team, proj)
    assert result.code == 0, result.err
    assert marker.exists()
    marker.unlink()

    # the project's recorded template (_src_path): the same consent for check and update
    assert_refused(run_scaffold("check", proj), marker)
    assert_refused(run_scaffold("check", proj, "--template", team), marker)
    apply_changes(team, TEMPLATE_CHANGES)
    git(team, "commit", "-q", "-am", "template v2")
    git(team, "tag", "v2")
    assert_refused(run_scaffold("update", proj), marker)
    assert_refused(run_scaffold("update", proj, "--blueprint", LENET), marker)
    assert answers(proj)["_commit"] == "v1" and git(proj, "status", "--porcelain") == ""

    # copier's settings file trusts it: by a prefix ending in "/", or by its exact path
    trust_in_settings(tmp_path, f"{tmp_path}/")
    result = run_scaffold("check", proj)
    assert result.code == 0, result.out + result.err
    assert marker.exists()
    marker.unlink()
    trust_in_settings(tmp_path, str(team))
    assert run_scaffold("validate", LENET, "--template", team).code == 0
    marker.unlink()
    trust_in_settings(tmp_path, str(tmp_path))  # no "/": not a prefix, so not the template
    assert_refused(run_scaffold("validate", LENET, "--template", team), marker)

    result = run_scaffold("update", "--trust", proj)
    assert result.code == 0, result.out + result.err
    assert answers(proj)["_commit"] == "v2"
    assert "A line added in template v2." in (proj / "README.md").read_text(encoding="utf-8")
    assert marker.exists()


def test_an_update_asks_for_consent_for_the_new_versions_code_too(tmp_path, marker):
    """A template without code of its own (its copier.yml names the installed scaffold's
    extension) needs no consent, as with copier; a later version that brings an engine does,
    also by a URL (read from a clone before anything renders)."""
    plain = copy_template(tmp_path / "plain")
    edit(
        plain / "copier.yml",
        ENGINE_EXTENSIONS,
        INSTALLED_EXTENSIONS,
    )
    init_repo(plain, "v1")
    url = "git+" + plain.as_uri()
    proj = tmp_path / "proj"
    result = run_scaffold("new", "--blueprint", LENET, "--template", url, proj)
    assert result.code == 0, result.err
    assert run_scaffold("check", proj).code == 0

    edit(
        plain / "copier.yml",
        INSTALLED_EXTENSIONS,
        ENGINE_EXTENSIONS,
    )
    init = plain / "scaffold" / "__init__.py"
    init.write_text(init.read_text(encoding="utf-8") + MARKER_CODE, encoding="utf-8")
    git(plain, "commit", "-q", "-am", "v2: the engine travels with the template")
    git(plain, "tag", "v2")
    assert_refused(run_scaffold("update", proj), marker)
    assert answers(proj)["_commit"] == "v1"

    trust_in_settings(tmp_path, url)
    result = run_scaffold("update", proj)
    assert result.code == 0, result.out + result.err
    assert answers(proj)["_commit"] == "v2" and marker.exists()


def test_bundled_template_needs_no_consent(tmp_path):
    assert run_scaffold("validate", LENET, "--template", REPO).code == 0
    result = run_scaffold("new", "--blueprint", LENET, tmp_path / "proj", "--no-git")
    assert result.code == 0, result.err


def test_what_counts_as_a_templates_code():
    engine = "scaffold/copier_extension.py:ScaffoldExtension"
    loader = "copier_template_extensions.TemplateExtensionLoader"
    assert template_code({"_jinja_extensions": [loader, engine]}, []) == ["its engine scaffold/"]
    both = [loader, engine, "scaffold/copier_extension.py:ScaffoldContext"]
    assert template_code({"_jinja_extensions": both}, []) == ["its engine scaffold/"]
    assert template_code({"_jinja_extensions": ["scaffold.jinja_ext.ScaffoldExtension"]}, []) == []
    assert template_code({}, ["eca.py", "cbam.yaml"]) == ["its blocks blocks/eca.py"]
    assert template_code({"_jinja_extensions": ["jinja2_time.TimeExtension"]}, []) == [
        "the Jinja extension jinja2_time.TimeExtension"
    ]
    assert template_code({"_migrations": [{"command": "rm -rf ~"}]}, []) == [
        "its migrations (_migrations)"
    ]
    assert template_code({"_tasks": ["make"]}, []) == []  # scaffold never runs tasks


def test_copiers_settings_file_is_read_by_copier(tmp_path):
    assert not trusted_in_settings("/anywhere")  # no settings file
    trust_in_settings(tmp_path, "~/src/", "gh:acme/")
    assert trusted_in_settings(str(Path.home() / "src" / "team"))
    assert trusted_in_settings("gh:acme/vision-template")
    assert not trusted_in_settings("gh:other/vision-template")
    (tmp_path / "copier-settings.yml").write_text("trust: [unclosed\n", encoding="utf-8")
    with pytest.raises(UsageError, match="copier-settings.yml: copier's settings file cannot"):
        trusted_in_settings("/anywhere")


def test_help_says_how_to_trust_a_template():
    for command in ("new", "validate", "inspect", "check", "update", "smoke"):
        result = run_scaffold(command, "--help")
        assert "--trust" in result.out and "settings.yml" in result.out, command


# ---------------------------------------------------------------------------------------------
# honest template versions


def test_new_refuses_uncommitted_changes_it_would_render(team, tmp_path):
    git(team, "tag", "-d", "v1")  # no release: `new` renders HEAD, as copier does
    (team / "blocks").mkdir()
    (team / "blocks" / "wip.yaml").write_text("# work in progress\n", encoding="utf-8")
    edit(team / "templates" / "README.md.jinja", "## Install\n", "## Install (draft)\n")
    proj = tmp_path / "proj"
    result = run_scaffold("new", "--trust", "--blueprint", LENET, "--template", team, proj)
    assert result.code == 2
    assert "has uncommitted changes (templates/README.md.jinja, blocks/wip.yaml)" in result.err
    head = git(team, "rev-parse", "--short", "HEAD").strip()
    assert f"--vcs-ref {head}" in result.err and "Traceback" not in result.err
    assert not proj.exists() and not list(tmp_path.glob(".proj.scaffold-*"))

    # the last commit, named: rendered without the changes, and recorded as what it is
    result = run_scaffold(
        "new", "--trust", "--blueprint", LENET, "--template", team, proj, "--vcs-ref", head
    )
    assert result.code == 0, result.err
    assert "uncommitted changes (templates/README.md.jinja, blocks/wip.yaml)" in result.err
    assert "(draft)" not in (proj / "README.md").read_text(encoding="utf-8")
    assert answers(proj)["_commit"] == head
    assert run_scaffold("check", "--trust", proj).code == 0

    # committed, then generated from: check and update find the version
    git(team, "add", "-A")
    git(team, "commit", "-q", "-m", "the draft")
    other = tmp_path / "other"
    result = run_scaffold("new", "--trust", "--blueprint", LENET, "--template", team, other)
    assert result.code == 0, result.err
    assert "(draft)" in (other / "README.md").read_text(encoding="utf-8")
    assert answers(other)["_commit"] == git(team, "rev-parse", "--short", "HEAD").strip()
    assert run_scaffold("check", "--trust", other).code == 0


def test_uncommitted_changes_beside_a_release_are_left_out_and_said(team, tmp_path):
    """With a release tag, `new` renders the tag (copier's choice) from a clean clone; a team's
    new block, not committed yet, counts as a change to the template."""
    edit(team / "templates" / "README.md.jinja", "## Install\n", "## Install (draft)\n")
    (team / "blocks").mkdir()
    (team / "blocks" / "wip_block.yaml").write_text("# work in progress\n", encoding="utf-8")
    result = run_scaffold(
        "new", "--trust", "--blueprint", LENET, "--template", team, tmp_path / "p"
    )
    assert result.code == 0, result.err
    changes = "(templates/README.md.jinja, blocks/wip_block.yaml)"
    assert f"{changes}; they are not in v1, the version this project was generated" in result.err
    assert "(draft)" not in (tmp_path / "p" / "README.md").read_text(encoding="utf-8")
    assert answers(tmp_path / "p")["_commit"] == "v1"

    # a blueprint the tagged version does not know: the error says what was left out
    (tmp_path / "bad.yaml").write_text(LENET.read_text().replace("- relu", "- wip_block", 1))
    result = run_scaffold(
        "new", "--trust", "-b", tmp_path / "bad.yaml", "--template", team, tmp_path / "q"
    )
    assert result.code == 2 and "unknown layer type 'wip_block'" in result.err
    assert f"{changes}, which v1 (used here) lacks" in result.err
    result = run_scaffold("validate", "--trust", "--template", team, tmp_path / "bad.yaml")
    assert (
        result.code == 2 and "which v1 (used here) lacks; --vcs-ref HEAD reads them" in result.err
    )
