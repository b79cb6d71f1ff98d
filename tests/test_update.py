"""Generated projects that stay updatable: `scaffold new`, `update` and `check`, end to end.

Real git, real copier, real files: each test generates projects from its own clone of a template
repository (this checkout's copier.yml and templates/, committed and tagged v1), changes the
template and the projects the way people do, and runs the `scaffold` command in a subprocess.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest
import yaml
from conftest import REPO, run_scaffold

LENET = REPO / "blueprints" / "lenet.yaml"
PKG = "proj"  # the package name of a project generated into a folder named proj

# A user's edits and the template changes of a new version, as (file, old text, new text). The
# edits are a few lines away from anything a template or blueprint change touches, so that they
# merge; COLLIDING_* change the same line.
USER_EDITS = [
    (
        f"{PKG}/train.py",
        'default=20, help="steps between progress updates"',  # --log-every's default
        'default=5, help="steps between progress updates"',
    ),
    (
        f"{PKG}/model.py",
        "from torch import nn\n",
        "from torch import nn\n\nUSER_SETTING = 0.1  # my model edit\n",
    ),
]
TEMPLATE_CHANGES = [
    (
        "templates/{{ package_name }}/data.py.jinja",
        "that the user can fix: training stops with this message.",
        "that the user can fix: training stops with this message. Improved in template v2.",
    ),
    (
        "templates/README.md.jinja",
        "## Install\n\n",
        "## Install\n\nA line added in template v2.\n\n",
    ),
]
COLLIDING_TEMPLATE_CHANGE = (
    "templates/{{ package_name }}/train.py.jinja",
    '"--log-every", type=positive_int, default=20,',
    '"--log-every", type=positive_int, default=50,',
)


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


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"git {' '.join(args)} failed in {repo}:\n{done.stderr}"
    return done.stdout


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{path}: expected {old!r} exactly once (did the template change?)"
    path.write_text(text.replace(old, new), encoding="utf-8")


def release(template: Path, tag: str, changes) -> None:
    """A new version of the template: change it, commit, tag."""
    for name, old, new in changes:
        edit(template / name, old, new)
    git(template, "commit", "-q", "-am", f"template {tag}")
    git(template, "tag", tag)


def copy_template(dest: Path) -> Path:
    """This checkout's template (copier.yml and templates/) in a plain folder, without git."""
    dest.mkdir(parents=True)
    shutil.copy2(REPO / "copier.yml", dest / "copier.yml")
    shutil.copytree(
        REPO / "templates", dest / "templates", ignore=shutil.ignore_patterns("__pycache__")
    )
    return dest


@pytest.fixture(scope="module")
def base_template(tmp_path_factory, git_identity) -> Path:
    """The template repository at v1, built once per module; tests clone it (`template`)."""
    root = copy_template(tmp_path_factory.mktemp("template-base") / "templates-repo")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "template v1")
    git(root, "tag", "v1")
    return root


@pytest.fixture
def template(base_template, tmp_path) -> Path:
    """This test's own template repository (a clone with the v1 tag), free to change."""
    clone = tmp_path / "tmpl"
    subprocess.run(["git", "clone", "-q", str(base_template), str(clone)], check=True)
    return clone


def generate(template: Path, dest: Path, *extra: str, blueprint: Path = LENET) -> Path:
    result = run_scaffold("new", "--blueprint", blueprint, "--template", template, dest, *extra)
    assert result.code == 0, result.err
    return dest


def commit_user_edits(project: Path, edits=USER_EDITS) -> None:
    for name, old, new in edits:
        edit(project / name, old, new)
    git(project, "commit", "-q", "-am", "my edits")


def text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def answers(project: Path) -> dict:
    return yaml.safe_load(text(project / ".copier-answers.yml"))


def assert_user_edits_kept(project: Path) -> None:
    for name, _, new in USER_EDITS:
        assert new in text(project / name), f"{name}: the user's edit was lost"


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
    result = run_scaffold("update", project)
    assert result.code == 2
    assert "not a git repository" in result.err


# ---------------------------------------------------------------------------------------------
# scaffold update


def test_update_brings_template_changes_and_keeps_edits(template, tmp_path):
    project = generate(template, tmp_path / "proj")
    commit_user_edits(project)
    release(template, "v2", TEMPLATE_CHANGES)

    result = run_scaffold("update", project)
    assert result.code == 0, result.out + result.err
    assert "conflict" not in result.out
    assert_user_edits_kept(project)
    assert "Improved in template v2." in text(project / PKG / "data.py")
    assert "A line added in template v2." in text(project / "README.md")
    assert answers(project)["_commit"] == "v2"
    changed = {line[3:] for line in git(project, "status", "--porcelain").splitlines()}
    assert changed == {".copier-answers.yml", "README.md", f"{PKG}/data.py"}

    black = subprocess.run(
        [sys.executable, "-m", "black", "--check", "."], cwd=project, capture_output=True, text=True
    )
    assert black.returncode == 0, black.stderr
    run_project_tests(project, "tests/test_model.py", "tests/test_data.py")

    # Updating again to the same version changes nothing.
    git(project, "commit", "-q", "-am", "update to v2")
    again = run_scaffold("update", project)
    assert again.code == 0, again.err
    assert "up to date" in again.out
    assert git(project, "status", "--porcelain") == ""


def test_plain_copier_update_works_too(template, tmp_path):
    """`copier update --trust --defaults` inside the project, without scaffold's command."""
    project = generate(template, tmp_path / "proj")
    commit_user_edits(project)
    release(template, "v2", TEMPLATE_CHANGES)

    done = subprocess.run(
        [sys.executable, "-m", "copier", "update", "--trust", "--defaults"],
        cwd=project,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},  # the Jinja extension must be importable
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert_user_edits_kept(project)
    assert "Improved in template v2." in text(project / PKG / "data.py")
    assert "A line added in template v2." in text(project / "README.md")
    assert answers(project)["_commit"] == "v2"


def test_update_reports_conflicts_and_loses_nothing(template, tmp_path):
    project = generate(template, tmp_path / "proj")
    commit_user_edits(project)  # the train.py edit changes the --log-every line
    release(template, "v2", [COLLIDING_TEMPLATE_CHANGE, *TEMPLATE_CHANGES])

    result = run_scaffold("update", project)
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

    result = run_scaffold("update", project, "--blueprint", changed)
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

    result = run_scaffold("update", project)
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
    result = run_scaffold("update", folder)
    assert result.code == 2
    assert "not a scaffold project" in result.err
    assert "Traceback" not in result.err
    missing = run_scaffold("update", tmp_path / "nowhere")
    assert missing.code == 2
    assert "no such folder" in missing.err


def test_update_says_when_the_template_moved(template, tmp_path):
    project = generate(template, tmp_path / "proj")
    template.rename(tmp_path / "moved")
    result = run_scaffold("update", project)
    assert result.code == 2
    assert f"its template {template.resolve()} does not exist" in result.err
    assert "_src_path" in result.err  # the way out
    assert "Traceback" not in result.err


def test_project_from_a_template_outside_git_says_why_it_cannot_be_updated(tmp_path):
    plain = copy_template(tmp_path / "plain-template")
    result = run_scaffold("new", "--blueprint", LENET, "--template", plain, tmp_path / "proj")
    assert result.code == 0, result.err
    assert "cannot be updated" in result.err  # told at once, not at the first update
    project = tmp_path / "proj"
    recorded = answers(project)
    assert "git" in recorded["_scaffold_update_blocker"]
    assert "_commit" not in recorded

    update = run_scaffold("update", project)
    assert update.code == 2
    assert "cannot be updated" in update.err and "not in a git repository" in update.err
    assert "Traceback" not in update.err
    # It can still be checked against the template it came from.
    check = run_scaffold("check", project)
    assert check.code == 0, check.out + check.err


# ---------------------------------------------------------------------------------------------
# scaffold check


def test_check_finds_hand_edits_and_stale_files(template, tmp_path):
    project = generate(template, tmp_path / "proj")
    fresh = run_scaffold("check", project)
    assert fresh.code == 0, fresh.out + fresh.err
    assert "matches" in fresh.out

    edit(project / PKG / "data.py", "stops with this message.", "stops, said I.")
    edited = run_scaffold("check", project)
    assert edited.code == 1
    assert f"changed: {PKG}/data.py" in edited.out
    assert f"--- generated/{PKG}/data.py" in edited.out
    assert f"+++ project/{PKG}/data.py" in edited.out
    assert "stops with this message." in edited.out and "stops, said I." in edited.out
    git(project, "checkout", "--", ".")

    release(template, "v2", TEMPLATE_CHANGES)
    stale = run_scaffold("check", project, "--template", template, "--vcs-ref", "v2")
    assert stale.code == 1
    listed = {
        line.split(": ", 1)[1] for line in stale.out.splitlines() if line.startswith("  changed: ")
    }
    assert listed == {"README.md", f"{PKG}/data.py"}
    assert "+A line added in template v2." not in stale.out  # the project lacks it: a - line
    assert "-A line added in template v2." in stale.out
    # The recorded version is still what the project was generated from.
    assert run_scaffold("check", project).code == 0


# ---------------------------------------------------------------------------------------------
# a team's own template (examples/team-template)


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
    release(team, "v1.1.0", [codeowners])
    result = run_scaffold("update", project)
    assert result.code == 0, result.out + result.err
    assert "@acme/mlops" in text(project / ".github" / "CODEOWNERS")
    assert answers(project)["_commit"] == "v1.1.0"
    assert_user_edits_kept(project)


# ---------------------------------------------------------------------------------------------
# an installed scaffold (a wheel), whose template is not in a git repository


@pytest.fixture(scope="module")
def installed_scaffold(tmp_path_factory) -> Path:
    """A venv with scaffold installed from a wheel of this checkout; returns its bin folder."""
    pytest.importorskip(
        "hatchling", reason="building the wheel needs hatchling (pip install hatchling)"
    )
    root = tmp_path_factory.mktemp("installed")
    wheels = root / "wheels"
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(wheels),
            str(REPO),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    (wheel,) = wheels.glob("scaffold-*.whl")
    env_dir = root / "venv"
    venv.create(env_dir, system_site_packages=True, with_pip=False)  # torch, copier, black: shared
    bindir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(bindir / "python"),
            "install",
            "-q",
            "--no-deps",
            str(wheel),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    return bindir


def test_installed_package_generates_projects_that_say_why_they_cannot_update(
    installed_scaffold, tmp_path
):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    where = subprocess.run(
        [
            str(installed_scaffold / "python"),
            "-c",
            "import scaffold.resources as r; print(r.template_root())",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
    )
    assert where.returncode == 0, where.stderr
    assert "site-packages" in where.stdout and str(REPO) not in where.stdout

    def scaffold(*args):
        return subprocess.run(
            [str(installed_scaffold / "scaffold"), *map(str, args)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )

    new = scaffold("new", "--blueprint", "lenet", "proj")
    assert new.returncode == 0, new.stdout + new.stderr
    assert "cannot be updated" in new.stderr
    recorded = answers(tmp_path / "proj")
    assert "git" in recorded["_scaffold_update_blocker"]
    assert "site-packages" in recorded["_src_path"]
    assert git(tmp_path / "proj", "rev-list", "--count", "HEAD").strip() == "1"

    update = scaffold("update", "proj")
    assert update.returncode == 2
    assert "cannot be updated" in update.stderr and "git" in update.stderr
    assert "Traceback" not in update.stderr


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

    result = run_scaffold("update", project)
    assert result.code == 1, result.out + result.err
    assert f"  {PKG}/train.py" in result.out.splitlines()
    assert "A line added in template v2." in text(project / "README.md")
    assert USER_EDITS[1][2] in text(project / PKG / "model.py")


def test_smoke_workflow_covers_every_bundled_blueprint():
    workflow = yaml.safe_load(text(REPO / ".github" / "workflows" / "smoke.yml"))
    matrix = workflow["jobs"]["smoke"]["strategy"]["matrix"]["blueprint"]
    assert sorted(matrix) == sorted(p.stem for p in (REPO / "blueprints").glob("*.yaml"))
