"""An installed scaffold (a wheel) makes projects that update, offline, planner and all.

Real wheels, real git, real copier: scaffold's own source (this checkout's working tree) is
committed into a repository of its own and tagged v0.1.0; v2 changes what the planner writes
(shape comments say B, not N) and a template, and is tagged v0.2.0; v3 adds one more template
line and is not tagged. A wheel of each is built, and the repository is then deleted: only the
wheels are left. Each test installs wheels into a fresh venv (tests/venvs.py) and runs the
installed `scaffold` command as a user would, with its own data folder for the template
repository the installed scaffold keeps.
"""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import REPO, Result
from template_repos import (
    PKG,
    TEMPLATE_CHANGES,
    USER_EDITS,
    answers,
    apply_changes,
    assert_planner_change,
    assert_user_edits_kept,
    change_planner,
    commit_user_edits,
    edit,
    git,
    init_repo,
)
from venvs import Venv, build_wheel

# what a wheel is built from (pyproject.toml's hook and force-include name the rest)
SOURCE_FILES = ("pyproject.toml", "hatch_build.py", "README.md", "copier.yml", ".gitignore")
SOURCE_FOLDERS = ("scaffold", "templates", "blueprints")
V3_LINE = "A line added after v0.2.0.\n\n"
V3_CHANGE = ("templates/README.md.jinja", "## Install\n\n", f"## Install\n\n{V3_LINE}")


@pytest.fixture(scope="module", autouse=True)
def git_identity(tmp_path_factory):
    home = tmp_path_factory.mktemp("git-home")
    (home / "gitconfig").write_text("", encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        for key in ("GIT_AUTHOR", "GIT_COMMITTER"):
            patch.setenv(f"{key}_NAME", "Test User")
            patch.setenv(f"{key}_EMAIL", "test@example.com")
        patch.setenv("GIT_CONFIG_GLOBAL", str(home / "gitconfig"))
        patch.setenv("GIT_CONFIG_NOSYSTEM", "1")
        yield


def set_version(source: Path, version: str) -> None:
    init = source / "scaffold" / "__init__.py"
    text = init.read_text(encoding="utf-8")
    old = next(line for line in text.splitlines() if line.startswith("__version__ = "))
    init.write_text(text.replace(old, f'__version__ = "{version}"'), encoding="utf-8")


def copy_source(dest: Path) -> Path:
    dest.mkdir()
    for name in SOURCE_FILES:
        shutil.copy2(REPO / name, dest / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "_template")
    for name in SOURCE_FOLDERS:
        shutil.copytree(REPO / name, dest / name, ignore=ignore)
    return dest


@pytest.fixture(scope="module")
def wheels(tmp_path_factory, git_identity) -> dict[str, Path]:
    """Wheels of scaffold v1 (tag v0.1.0), v2 (planner and template change, tag v0.2.0) and v3
    (one more template line, no tag), built from a repository that is gone afterwards. Built
    once per test session, also when pytest-xdist runs this module's tests in several workers."""
    pytest.importorskip("hatchling", reason="building wheels needs hatchling")
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # the run's folder, which the workers' own folders are in
    base = shared / "scaffold-wheels"
    with _file_lock(shared / "scaffold-wheels.lock"):
        if not (base / "done").is_file():
            shutil.rmtree(base, ignore_errors=True)
            base.mkdir()
            _build_wheels(base)
            (base / "done").write_text("", encoding="utf-8")
    return {version: next((base / version).glob("scaffold-*.whl")) for version in VERSIONS}


VERSIONS = ("v1", "v2", "v3")


def _build_wheels(base: Path) -> None:
    source = copy_source(base / "scaffold-source")
    set_version(source, "0.1.0")
    init_repo(source, tag="v0.1.0", message="scaffold 0.1.0")
    build_wheel(source, base / "v1")

    apply_changes(source, TEMPLATE_CHANGES)
    change_planner(source)
    set_version(source, "0.2.0")
    git(source, "commit", "-q", "-am", "scaffold 0.2.0: shape comments say B; template changes")
    git(source, "tag", "v0.2.0")
    build_wheel(source, base / "v2")

    edit(source / V3_CHANGE[0], *V3_CHANGE[1:])
    set_version(source, "0.3.0")
    git(source, "commit", "-q", "-am", "after 0.2.0, not tagged")
    build_wheel(source, base / "v3")

    shutil.rmtree(source)  # no scaffold repository anywhere: only the wheels


@contextmanager
def _file_lock(path: Path):
    import fcntl

    with open(path, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


@dataclass
class User:
    """A user of an installed scaffold: a venv, a home folder and a data folder of theirs."""

    venv: Venv
    env: dict

    def scaffold(self, *args, cwd: Path) -> Result:
        done = self.venv.run_python(
            "-m", "scaffold", *map(str, args), cwd=cwd, env=self.env, timeout=600
        )
        return Result(done.returncode, done.stdout, done.stderr)


@pytest.fixture(scope="module")
def installed(wheels, tmp_path_factory) -> dict[str, Venv]:
    """A venv with each version installed (pip, from its wheel), and one without scaffold;
    tests work on copies (`make_user`)."""
    base = tmp_path_factory.mktemp("venvs")
    venvs = {"none": Venv.create(base / "none")}
    for version, wheel in wheels.items():
        venvs[version] = Venv.create(base / version)
        venvs[version].install(wheel)
    return venvs


@pytest.fixture
def make_user(installed, tmp_path):
    # black's results are cached by content: the user's usual cache, as for the other tests
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")

    def make(version: str = "none", name: str = "user", home: Path | None = None, xdg=True):
        """A user with scaffold `version` installed (a copy of its venv), a data folder of
        their own (or the one under `home`, with XDG_DATA_HOME unset)."""
        venv = Venv(tmp_path / f"{name}-venv")
        shutil.copytree(installed[version].path, venv.path, symlinks=True)
        extra = {"XDG_CACHE_HOME": cache}
        if xdg:
            extra["XDG_DATA_HOME"] = str(tmp_path / f"{name}-data")
        if home is not None:
            home.mkdir(parents=True, exist_ok=True)
            extra["HOME"] = str(home)
        env = venv.env(**extra)
        if not xdg:
            env.pop("XDG_DATA_HOME", None)
        return User(venv, env)

    return make


def new_project(user: User, where: Path, name: str = PKG, *extra: str) -> Path:
    result = user.scaffold("new", "--blueprint", "lenet", name, *extra, cwd=where)
    assert result.code == 0, result.out + result.err
    assert "cannot be updated" not in result.err
    return where / name


def test_installed_scaffold_makes_projects_that_update_offline(wheels, make_user, tmp_path):
    user = make_user("v1")
    project = new_project(user, tmp_path)
    recorded = answers(project)
    repository = tmp_path / "user-data" / "scaffold" / "template"
    assert recorded["_src_path"] == str(repository)
    assert recorded["_commit"] == "v0.1.0"
    assert recorded["_scaffold_version"] == "0.1.0"
    assert git(repository, "status", "--porcelain") == ""
    assert_planner_change(project, changed=False)
    commit_user_edits(project)

    user.venv.install(wheels["v2"])  # a newer scaffold, installed over the old one
    update = user.scaffold("update", project, cwd=tmp_path)
    assert update.code == 0, update.out + update.err
    assert_user_edits_kept(project)
    assert_planner_change(project)
    assert "Improved in template v2." in (project / PKG / "data.py").read_text(encoding="utf-8")
    assert "A line added in template v2." in (project / "README.md").read_text(encoding="utf-8")
    recorded = answers(project)
    assert recorded["_commit"] == "v0.2.0"
    assert recorded["_scaffold_version"] == "0.2.0"
    assert recorded["_src_path"] == str(repository)

    git(project, "commit", "-q", "-am", "update to scaffold 0.2.0")
    check = user.scaffold("check", project, cwd=tmp_path)
    assert check.code == 1, check.out + check.err  # the user's edits, and nothing else
    listed = {line[len("  changed: ") :] for line in check.out.splitlines() if "changed: " in line}
    assert listed == {name for name, _, _ in USER_EDITS}


def test_plain_copier_updates_a_project_of_an_installed_scaffold(wheels, make_user, tmp_path):
    """`copier update --trust --defaults` in the project, from an environment without scaffold,
    gives what `scaffold update` gives: both use the user's template repository, which any
    scaffold command brings to the installed version."""
    user = make_user("v1")
    project = new_project(user, tmp_path)
    (tmp_path / "twin").mkdir()
    twin = new_project(user, tmp_path / "twin")  # the same project, updated by scaffold
    for one in (project, twin):
        commit_user_edits(one)
    user.venv.install(wheels["v2"])
    assert user.scaffold("update", twin, cwd=tmp_path).code == 0

    copier_only = make_user(name="copier-only")
    done = copier_only.venv.run_python(
        "-m", "copier", "update", "--trust", "--defaults", cwd=project, env=copier_only.env
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert_planner_change(project)
    for path in sorted(p for p in project.rglob("*") if p.is_file() and ".git" not in p.parts):
        name = path.relative_to(project)
        assert path.read_bytes() == (twin / name).read_bytes(), name


def test_a_clone_of_the_project_on_another_machine_updates_there(wheels, make_user, tmp_path):
    """Under the home folder the template repository is recorded as `~/...`: a clone of the
    project elsewhere (another account or machine, with a newer scaffold) updates from that
    machine's copy, made from its own wheel. The installed version is past its last tag: the
    update brings it anyway."""
    alice = make_user("v2", name="alice", home=tmp_path / "alice", xdg=False)
    project = new_project(alice, tmp_path)
    recorded = answers(project)
    assert recorded["_src_path"] == "~/.local/share/scaffold/template"
    assert recorded["_commit"] == "v0.2.0"
    commit_user_edits(project)

    bob = make_user("v3", name="bob", home=tmp_path / "bob", xdg=False)
    clone = tmp_path / "bob" / "work" / PKG
    clone.parent.mkdir(parents=True)
    git(tmp_path, "clone", "-q", str(project), str(clone))
    update = bob.scaffold("update", clone, cwd=clone.parent)
    assert update.code == 0, update.out + update.err
    assert V3_LINE.strip() in (clone / "README.md").read_text(encoding="utf-8")
    assert_user_edits_kept(clone)
    recorded = answers(clone)
    assert recorded["_commit"].startswith("v0.2.0-1-g")  # HEAD, past the v0.2.0 tag
    assert recorded["_scaffold_version"] == "0.3.0"
    assert recorded["_src_path"] == "~/.local/share/scaffold/template"
    assert (tmp_path / "bob" / ".local" / "share" / "scaffold" / "template" / ".git").is_dir()


def test_an_older_scaffold_says_it_cannot_update_a_newer_project(wheels, make_user, tmp_path):
    newer = make_user("v2", name="newer")
    project = new_project(newer, tmp_path)
    older = make_user("v1", name="older")
    older.env["XDG_DATA_HOME"] = newer.env["XDG_DATA_HOME"]  # the same user, another venv
    update = older.scaffold("update", project, cwd=tmp_path)
    assert update.code == 2, update.out + update.err
    assert "newer than this installed scaffold's" in update.err
    assert "pip install -U scaffold" in update.err
    assert "Traceback" not in update.err
    # the newer scaffold still finds its version, after the older one used the repository
    check = newer.scaffold("check", project, cwd=tmp_path)
    assert check.code == 0, check.out + check.err


def test_two_first_runs_at_once_share_one_template_repository(make_user, tmp_path):
    """Two `scaffold new` at the same time, before the template repository exists: one makes
    it, the other waits for it (a lock), and both projects record the same version."""
    import subprocess

    user = make_user("v1")
    command = [str(user.venv.python), "-m", "scaffold", "new", "--blueprint", "lenet"]
    runs = [
        subprocess.Popen(
            [*command, name], cwd=tmp_path, env=user.env, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True,
        )
        for name in ("one", "two")
    ]  # fmt: skip
    for run in runs:
        out, err = run.communicate(timeout=600)
        assert run.returncode == 0, out + err
    assert answers(tmp_path / "one")["_commit"] == answers(tmp_path / "two")["_commit"] == "v0.1.0"


def test_a_wheel_built_without_git_makes_projects_that_say_why_they_cannot_update(
    wheels, make_user, tmp_path
):
    """Built from a folder outside git (and not from an sdist that has the history), the wheel
    carries no history: its projects are made, and say at once why they cannot be updated."""
    import zipfile

    wheel = build_wheel(copy_source(tmp_path / "no-git-source"), tmp_path / "no-git-wheel")
    assert not any("template.bundle" in n for n in zipfile.ZipFile(wheel).namelist())
    user = make_user()
    user.venv.install(wheel)
    new = user.scaffold("new", "--blueprint", "lenet", PKG, cwd=tmp_path)
    assert new.code == 0, new.out + new.err
    assert "cannot be updated" in new.err and "without its template's history" in new.err
    project = tmp_path / PKG
    assert "history" in answers(project)["_scaffold_update_blocker"]
    update = user.scaffold("update", project, cwd=tmp_path)
    assert update.code == 2 and "cannot be updated" in update.err
    assert "Traceback" not in update.err
    check = user.scaffold("check", project, cwd=tmp_path)
    assert check.code == 0, check.out + check.err
