"""Generated projects that stay updatable: `scaffold new`, `update` and `check`, end to end.

Real git, real copier, real files: each test generates projects from its own clone of a template
repository (this checkout's copier.yml, templates/ and engine scaffold/, committed and tagged
v1), changes the template and the projects the way people do, and runs the `scaffold` command in
a subprocess. Installed scaffolds (wheels) are tested in test_wheel_update.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ENGINE_EXTENSIONS, INSTALLED_EXTENSIONS, REPO, run_scaffold
from template_repos import (
    COLLIDING_TEMPLATE_CHANGE,
    PKG,
    TEMPLATE_CHANGES,
    USER_EDITS,
    answers,
    apply_changes,
    assert_planner_change,
    assert_user_edits_kept,
    change_planner,
    commit_user_edits,
    copy_template,
    edit,
    git,
    template_repo,
)
from venvs import Venv

LENET = REPO / "blueprints" / "lenet.yaml"


# ---------------------------------------------------------------------------------------------
# helpers


@pytest.fixture(scope="module", autouse=True)
def git_identity(tmp_path_factory):
    """Git works the same on a fresh machine: a fixed identity, no global or system config."""
    home = tmp_path_factory.mktemp("git-home")
    (home / "gitconfig").write_text("", encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        for key in ("GIT_AUTHOR", "GIT_COMMITTER"):
            patch.setenv(f"{key}_NAME", "Test User")
            patch.setenv(f"{key}_EMAIL", "test@example.com")
        patch.setenv("GIT_CONFIG_GLOBAL", str(home / "gitconfig"))
        patch.setenv("GIT_CONFIG_NOSYSTEM", "1")
        yield


def release(template: Path, tag: str, changes, planner: bool = False) -> None:
    """A new version of the template: change it (its templates, and its planner), commit, tag."""
    apply_changes(template, changes)
    if planner:
        change_planner(template)
    git(template, "commit", "-q", "-am", f"template {tag}")
    git(template, "tag", tag)


@pytest.fixture(scope="module")
def base_template(tmp_path_factory, git_identity) -> Path:
    """The template repository at v1, built once per module; tests clone it (`template`)."""
    return template_repo(tmp_path_factory.mktemp("template-base") / "templates-repo")


@pytest.fixture
def template(base_template, tmp_path) -> Path:
    """This test's own template repository (a clone with the v1 tag), free to change."""
    clone = tmp_path / "tmpl"
    subprocess.run(["git", "clone", "-q", str(base_template), str(clone)], check=True)
    return clone


def generate(template: Path, dest: Path, *extra: str, blueprint: Path = LENET) -> Path:
    result = run_scaffold(
        "new", "--trust", "--blueprint", blueprint, "--template", template, dest, *extra
    )
    assert result.code == 0, result.err
    return dest


def text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def changed_files(project: Path) -> set[str]:
    return {line[3:] for line in git(project, "status", "--porcelain").splitlines()}


def run_project_tests(project: Path, *tests: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests],
        cwd=project,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(project)},
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


# ---------------------------------------------------------------------------------------------
# scaffold new


def test_new_commits_the_project_and_records_what_update_needs(template, tmp_path):
    project = generate(template, tmp_path / "proj")
    assert git(project, "rev-list", "--count", "HEAD").strip() == "1"
    assert git(project, "status", "--porcelain") == ""
    recorded = answers(project)
    assert recorded["_commit"] == "v1"
    assert Path(recorded["_src_path"]).is_absolute()
    assert Path(recorded["_src_path"]) == template.resolve()
    assert recorded["package_name"] == PKG
    assert recorded["blueprint"]["name"] == "lenet"
    assert recorded["blueprint"]["model"]["layers"][7] == {"linear": 120}
    assert "_scaffold_update_blocker" not in recorded


def test_new_no_git(template, tmp_path):
    project = generate(template, tmp_path / "proj", "--no-git")
    assert not (project / ".git").exists()
    assert answers(project)["_commit"] == "v1"
    result = run_scaffold("update", "--trust", project)
    assert result.code == 2
    assert "not a git repository" in result.err


# ---------------------------------------------------------------------------------------------
# scaffold update


def test_update_brings_template_and_planner_changes_and_keeps_edits(template, tmp_path):
    """v2 changes a template and what the planner writes (copier issue #1170: an update that
    renders the old version with today's planner loses the planner's change)."""
    project = generate(template, tmp_path / "proj")
    assert_planner_change(project, changed=False)
    commit_user_edits(project)
    release(template, "v2", TEMPLATE_CHANGES, planner=True)

    result = run_scaffold("update", "--trust", project)
    assert result.code == 0, result.out + result.err
    assert "conflict" not in result.out
    assert_user_edits_kept(project)
    assert_planner_change(project)
    assert "Improved in template v2." in text(project / PKG / "data.py")
    assert "A line added in template v2." in text(project / "README.md")
    assert answers(project)["_commit"] == "v2"
    assert changed_files(project) == {
        ".copier-answers.yml",
        "README.md",
        f"{PKG}/data.py",
        f"{PKG}/model.py",
    }

    black = subprocess.run(
        [sys.executable, "-m", "black", "--check", "."], cwd=project, capture_output=True, text=True
    )
    assert black.returncode == 0, black.stderr
    run_project_tests(project, "tests/test_model.py", "tests/test_data.py")

    # What differs from v2 now is the user's edits, and nothing else.
    git(project, "commit", "-q", "-am", "update to v2")
    check = run_scaffold("check", "--trust", project)
    assert check.code == 1, check.out + check.err
    listed = {line[len("  changed: ") :] for line in check.out.splitlines() if "changed: " in line}
    assert listed == {name for name, _, _ in USER_EDITS}
    assert "note: black" not in check.out  # the same black: no formatting drift

    # Updating again to the same version changes nothing.
    again = run_scaffold("update", "--trust", project)
    assert again.code == 0, again.err
    assert "up to date" in again.out
    assert git(project, "status", "--porcelain") == ""


@pytest.fixture(scope="module")
def copier_without_scaffold(tmp_path_factory) -> Venv:
    """An environment with copier and copier-template-extensions, in which scaffold cannot be
    imported at all: what renders must come from the template."""
    env = Venv.create(tmp_path_factory.mktemp("copier-only") / "venv")
    done = env.run_python("-c", "import scaffold.jinja_ext", cwd=tmp_path_factory.getbasetemp())
    assert done.returncode != 0, "scaffold is importable in the test venv"
    return env


def test_plain_copier_update_works_too(template, tmp_path, copier_without_scaffold):
    """`copier update --trust --defaults` inside the project, where scaffold is not installed:
    each version renders with its own engine, so the planner change arrives too."""
    project = generate(template, tmp_path / "proj")
    twin = generate(template, tmp_path / "twin", "--name", PKG)
    for one in (project, twin):
        commit_user_edits(one)
    release(template, "v2", TEMPLATE_CHANGES, planner=True)

    done = copier_without_scaffold.run_python(
        "-m", "copier", "update", "--trust", "--defaults", cwd=project, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert_user_edits_kept(project)
    assert_planner_change(project)
    assert "Improved in template v2." in text(project / PKG / "data.py")
    assert "A line added in template v2." in text(project / "README.md")
    assert answers(project)["_commit"] == "v2"

    # the same as scaffold update, file for file
    assert run_scaffold("update", "--trust", twin).code == 0
    for path in sorted(p for p in project.rglob("*") if p.is_file() and ".git" not in p.parts):
        name = path.relative_to(project)
        assert path.read_bytes() == (twin / name).read_bytes(), name


def test_update_from_a_version_before_engines_travelled_with_templates(template, tmp_path):
    """Projects generated before this change record a version whose copier.yml names the
    installed package's extension (`scaffold.jinja_ext.ScaffoldExtension`): they still update."""
    edit(
        template / "copier.yml",
        ENGINE_EXTENSIONS,
        INSTALLED_EXTENSIONS,
    )
    answers_template = template / "templates" / "{{ _copier_conf.answers_file }}.jinja"
    lines = text(answers_template).splitlines(keepends=True)
    answers_template.write_text("".join(lines[:3]), encoding="utf-8")  # no version lines then
    git(template, "commit", "-q", "-am", "template v1.0 (before engines travelled)")
    git(template, "tag", "v1.0")
    project = generate(template, tmp_path / "proj", "--vcs-ref", "v1.0")
    assert answers(project)["_commit"] == "v1.0"
    commit_user_edits(project)
    git(template, "checkout", "-q", "v1", "--", "copier.yml", str(answers_template))
    release(template, "v2", TEMPLATE_CHANGES)

    result = run_scaffold("update", "--trust", project)
    assert result.code == 0, result.out + result.err
    assert_user_edits_kept(project)
    assert "A line added in template v2." in text(project / "README.md")
    recorded = answers(project)
    assert recorded["_commit"] == "v2"
    assert recorded["_black_version"]  # recorded from now on


def test_update_and_check_name_formatting_drift(template, tmp_path):
    """A project formatted by another black (recorded in its answers file): when the installed
    black formats a generated file differently, update and check say which."""
    project = generate(template, tmp_path / "proj")
    edit(project / PKG / "model.py", "nn.Linear(400, 120)", "nn.Linear( 400, 120 )")
    recorded = text(project / ".copier-answers.yml")
    installed = answers(project)["_black_version"]
    assert recorded.count(f'_black_version: "{installed}"') == 1
    (project / ".copier-answers.yml").write_text(
        recorded.replace(f'_black_version: "{installed}"', '_black_version: "25.1.0"'),
        encoding="utf-8",
    )
    git(project, "commit", "-q", "-am", "as black 25.1 formatted it")

    check = run_scaffold("check", "--trust", project)
    assert check.code == 1
    assert (
        f"note: black {installed} (installed) formats 1 generated file differently from "
        f"black 25.1.0 that formatted this project: {PKG}/model.py;" in check.out
    )

    release(template, "v2", TEMPLATE_CHANGES)
    update = run_scaffold("update", "--trust", project)
    assert update.code == 0, update.out + update.err
    assert f"note: black {installed} (installed) formats 1 generated file" in update.out
    assert "black==25.1.0" in update.out
    assert answers(project)["_black_version"] == installed


def test_update_reports_conflicts_and_loses_nothing(template, tmp_path):
    project = generate(template, tmp_path / "proj")
    commit_user_edits(project)  # the train.py edit changes the --log-every line
    release(template, "v2", [COLLIDING_TEMPLATE_CHANGE, *TEMPLATE_CHANGES])

    result = run_scaffold("update", "--trust", project)
    assert result.code == 1, result.out + result.err
    assert f"  {PKG}/train.py" in result.out.splitlines()
    assert "conflict" in result.out
    train = text(project / PKG / "train.py")
    assert "<<<<<<< " in train and ">>>>>>> " in train
    assert "default=5," in train and "default=50," in train  # both sides, for the user to choose
    # Everything that did not collide went through.
    assert USER_EDITS[1][2] in text(project / PKG / "model.py")
    assert "Improved in template v2." in text(project / PKG / "data.py")
    assert "A line added in template v2." in text(project / "README.md")
    assert f"{PKG}/model.py" not in result.out
    assert f"{PKG}/data.py" not in result.out.split("conflicts")[-1]


def test_update_with_a_changed_blueprint_keeps_edits(template, tmp_path):
    project = generate(template, tmp_path / "proj")
    commit_user_edits(project)
    changed = tmp_path / "changed.yaml"
    blueprint = text(LENET)
    assert blueprint.count("- linear: 120\n") == 1
    blueprint = blueprint.replace("- linear: 120\n", "- linear: 100\n")
    assert blueprint.count("  epochs: 10\n") == 1
    blueprint = blueprint.replace("  epochs: 10\n", "  epochs: 3\n")  # a training setting too
    changed.write_text(blueprint, encoding="utf-8")

    result = run_scaffold("update", "--trust", project, "--blueprint", changed)
    assert result.code == 0, result.out + result.err
    model = text(project / PKG / "model.py")
    assert "nn.Linear(400, 100)" in model and "nn.Linear(100, 84)" in model
    assert "nn.Linear(400, 120)" not in model
    assert "epochs: 3" in text(project / "configs" / "default.yaml")
    assert_user_edits_kept(project)
    recorded = answers(project)
    assert recorded["_commit"] == "v1"  # the template version stays
    assert recorded["blueprint"]["model"]["layers"][7] == {"linear": 100}
    assert recorded["blueprint"]["train"]["epochs"] == 3
    run_project_tests(project, "tests/test_model.py")


def test_update_refuses_uncommitted_changes(template, tmp_path):
    project = generate(template, tmp_path / "proj")
    release(template, "v2", TEMPLATE_CHANGES)
    edit(project / PKG / "train.py", *USER_EDITS[0][1:])
    before = {
        p: p.read_bytes() for p in project.rglob("*") if p.is_file() and ".git" not in p.parts
    }

    result = run_scaffold("update", "--trust", project)
    assert result.code == 2
    assert "uncommitted changes" in result.err
    assert f"{PKG}/train.py" in result.err
    assert "Traceback" not in result.err
    after = {p: p.read_bytes() for p in project.rglob("*") if p.is_file() and ".git" not in p.parts}
    assert after == before


def test_update_refuses_a_folder_that_is_not_a_scaffold_project(tmp_path):
    folder = tmp_path / "notaproject"
    folder.mkdir()
    (folder / "train.py").write_text("print('hi')\n", encoding="utf-8")
    result = run_scaffold("update", "--trust", folder)
    assert result.code == 2
    assert "not a scaffold project" in result.err
    assert "Traceback" not in result.err
    missing = run_scaffold("update", "--trust", tmp_path / "nowhere")
    assert missing.code == 2
    assert "no such folder" in missing.err


def test_update_says_when_the_template_moved(template, tmp_path):
    project = generate(template, tmp_path / "proj")
    template.rename(tmp_path / "moved")
    result = run_scaffold("update", "--trust", project)
    assert result.code == 2
    assert f"its template {template.resolve()} does not exist" in result.err
    assert "_src_path" in result.err  # the way out
    assert "Traceback" not in result.err
    # also when the update would read a new blueprint with the template's engine
    with_blueprint = run_scaffold("update", "--trust", project, "--blueprint", LENET)
    assert with_blueprint.code == 2
    assert f"its template {template.resolve()} does not exist" in with_blueprint.err


def test_project_from_a_template_outside_git_says_why_it_cannot_be_updated(tmp_path):
    plain = copy_template(tmp_path / "plain-template")
    result = run_scaffold(
        "new", "--trust", "--blueprint", LENET, "--template", plain, tmp_path / "proj"
    )
    assert result.code == 0, result.err
    assert "cannot be updated" in result.err  # told at once, not at the first update
    project = tmp_path / "proj"
    recorded = answers(project)
    assert "git" in recorded["_scaffold_update_blocker"]
    assert "_commit" not in recorded

    update = run_scaffold("update", "--trust", project)
    assert update.code == 2
    assert "cannot be updated" in update.err and "not in a git repository" in update.err
    assert "Traceback" not in update.err
    # It can still be checked against the template it came from.
    check = run_scaffold("check", "--trust", project)
    assert check.code == 0, check.out + check.err


# ---------------------------------------------------------------------------------------------
# scaffold check


def test_check_finds_hand_edits_and_stale_files(template, tmp_path):
    project = generate(template, tmp_path / "proj")
    fresh = run_scaffold("check", "--trust", project)
    assert fresh.code == 0, fresh.out + fresh.err
    assert "matches" in fresh.out

    edit(project / PKG / "data.py", "stops with this message.", "stops, said I.")
    edited = run_scaffold("check", "--trust", project)
    assert edited.code == 1
    assert f"changed: {PKG}/data.py" in edited.out
    assert f"--- generated/{PKG}/data.py" in edited.out
    assert f"+++ project/{PKG}/data.py" in edited.out
    assert "stops with this message." in edited.out and "stops, said I." in edited.out
    git(project, "checkout", "--", ".")

    release(template, "v2", TEMPLATE_CHANGES)
    stale = run_scaffold("check", "--trust", project, "--template", template, "--vcs-ref", "v2")
    assert stale.code == 1
    listed = {
        line.split(": ", 1)[1] for line in stale.out.splitlines() if line.startswith("  changed: ")
    }
    assert listed == {"README.md", f"{PKG}/data.py"}
    assert "+A line added in template v2." not in stale.out  # the project lacks it: a - line
    assert "-A line added in template v2." in stale.out
    # The recorded version is still what the project was generated from.
    assert run_scaffold("check", "--trust", project).code == 0


# ---------------------------------------------------------------------------------------------
# a team's own template (examples/team-template)


ECA_BLUEPRINT = """\
name: eca_net
description: A small CNN with efficient channel attention, a block of the team's template.
input: {channels: 3, height: 32, width: 32}
model:
  layers:
    - conv: {out: 16, kernel: 3, padding: 1}
    - batch_norm
    - relu
    - eca
    - global_avgpool
    - flatten
    - linear: classes
data: {dataset: synthetic, classes: 4}
train: {epochs: 1, batch_size: 8, optimizer: {name: sgd, lr: 0.01}}
"""


def test_team_template_example(tmp_path):
    team = tmp_path / "team-template"
    done = subprocess.run(
        ["bash", str(REPO / "examples" / "team-template" / "customize.sh"), str(REPO), str(team)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"scaffold new --template {team}" in done.stdout
    assert git(team, "tag").split() == ["v1.0.0"]
    assert git(team, "status", "--porcelain") == ""

    project = generate(team, tmp_path / "proj")
    assert "@acme/vision-ml" in text(project / ".github" / "CODEOWNERS")
    assert "## Team" in text(project / "README.md")
    assert "#SBATCH --partition=a100" in text(project / "scripts" / "slurm.sh")
    assert answers(project)["_commit"] == "v1.0.0"
    commit_user_edits(project)

    codeowners = (
        "templates/.github/CODEOWNERS",
        "* @acme/vision-ml\n",
        "* @acme/vision-ml @acme/mlops\n",
    )
    # The team's own block (blocks/eca.py), known to validate, inspect and new --template.
    eca_blueprint = tmp_path / "eca_net.yaml"
    eca_blueprint.write_text(ECA_BLUEPRINT, encoding="utf-8")
    assert run_scaffold("validate", eca_blueprint).code == 2  # scaffold itself has no `eca`
    result = run_scaffold("validate", "--trust", "--template", team, eca_blueprint)
    assert (result.code, result.out.strip()) == (0, "ok"), result.err
    result = run_scaffold("inspect", "--trust", "--template", team, eca_blueprint)
    assert result.code == 0 and "eca" in result.out, result.err
    eca_project = generate(team, tmp_path / "ecaproj", blueprint=eca_blueprint)
    model_code = text(eca_project / "ecaproj" / "model.py")
    assert "class ECA(nn.Module):" in model_code and "self.eca = ECA(16)" in model_code

    release(team, "v1.1.0", [codeowners])
    result = run_scaffold("update", "--trust", project)
    assert result.code == 0, result.out + result.err
    assert "@acme/mlops" in text(project / ".github" / "CODEOWNERS")
    assert answers(project)["_commit"] == "v1.1.0"
    assert_user_edits_kept(project)

    # A later update keeps the team's block working: rendered with v1.1.0's engine and blocks.
    result = run_scaffold("update", "--trust", eca_project)
    assert result.code == 0, result.out + result.err
    assert "@acme/mlops" in text(eca_project / ".github" / "CODEOWNERS")
    assert text(eca_project / "ecaproj" / "model.py") == model_code
    run_project_tests(eca_project, "tests/test_model.py")


def test_update_of_a_project_in_a_subfolder_of_a_repository(template, tmp_path):
    """A project inside a larger repository (a monorepo): conflicts are still found and named
    relative to the project."""
    repo = tmp_path / "monorepo"
    (repo / "models").mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    project = generate(template, repo / "models" / "proj", "--no-git")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "a project in the monorepo")
    commit_user_edits(project)
    release(template, "v2", [COLLIDING_TEMPLATE_CHANGE, *TEMPLATE_CHANGES])

    result = run_scaffold("update", "--trust", project)
    assert result.code == 1, result.out + result.err
    assert f"  {PKG}/train.py" in result.out.splitlines()
    assert "A line added in template v2." in text(project / "README.md")
    assert USER_EDITS[1][2] in text(project / PKG / "model.py")


def test_smoke_workflow_covers_every_bundled_blueprint():
    workflow = yaml.safe_load(text(REPO / ".github" / "workflows" / "smoke.yml"))
    matrix = workflow["jobs"]["smoke"]["strategy"]["matrix"]["blueprint"]
    assert sorted(matrix) == sorted(p.stem for p in (REPO / "blueprints").glob("*.yaml"))
