"""Template repositories for tests: this checkout's template (copier.yml, templates/ and the
engine, scaffold/) copied into a git repository of its own, and the kinds of change a new
template version makes."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# what a template version is made of: copier.yml loads scaffold/ (the engine) by its path
TEMPLATE_FILES = ("copier.yml", ".gitignore")
TEMPLATE_FOLDERS = ("templates", "scaffold")
IDENTITY = {
    "GIT_AUTHOR_NAME": "Test User",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test User",
    "GIT_COMMITTER_EMAIL": "test@example.com",
}
PLANNER_OLD, PLANNER_NEW = '"(N, ', '"(B, '  # the batch dimension in generated shape comments


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **IDENTITY},
    )
    assert done.returncode == 0, f"git {' '.join(args)} failed in {repo}:\n{done.stderr}"
    return done.stdout


def copy_template(dest: Path, source: Path = REPO) -> Path:
    """The template of `source` (a scaffold checkout) in a plain folder, without git."""
    dest.mkdir(parents=True)
    for name in TEMPLATE_FILES:
        shutil.copy2(source / name, dest / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "_template")
    for name in TEMPLATE_FOLDERS:
        shutil.copytree(source / name, dest / name, ignore=ignore)
    return dest


def init_repo(root: Path, tag: str | None = "v1", message: str = "template v1") -> Path:
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "--no-gpg-sign", "-m", message)
    if tag:
        git(root, "tag", tag)
    return root


def template_repo(dest: Path, tag: str | None = "v1") -> Path:
    """This checkout's template, committed (and tagged) in a new repository at `dest`."""
    return init_repo(copy_template(dest), tag)


def change_planner(root: Path) -> list[Path]:
    """A planner change: shape comments name the batch dimension B instead of N. Returns the
    engine files changed (wherever the planner keeps the comment's text)."""
    changed = []
    for path in sorted((root / "scaffold").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if PLANNER_OLD in text:
            path.write_text(text.replace(PLANNER_OLD, PLANNER_NEW), encoding="utf-8")
            changed.append(path)
    assert changed, f"no {PLANNER_OLD!r} in {root}/scaffold: where do shape comments come from now?"
    return changed


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{path}: expected {old!r} exactly once (did the template change?)"
    path.write_text(text.replace(old, new), encoding="utf-8")


# A user's edits and the template changes of a new version, as (file, old text, new text), for a
# LeNet project generated into a folder named proj. The edits are a few lines away from anything
# a template or blueprint change touches, so that they merge; COLLIDING_* change the same line.
PKG = "proj"
USER_EDITS = [
    (
        f"{PKG}/train.py",
        "default=20,",  # --log-every's default (its own line: black wraps the call)
        "default=5,",
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


def apply_changes(root: Path, changes) -> None:
    for name, old, new in changes:
        edit(root / name, old, new)


def commit_user_edits(project: Path, edits=USER_EDITS) -> None:
    apply_changes(project, edits)
    git(project, "commit", "-q", "-am", "my edits")


def assert_user_edits_kept(project: Path) -> None:
    for name, _, new in USER_EDITS:
        assert new in (project / name).read_text(encoding="utf-8"), f"{name}: the edit was lost"


def assert_planner_change(project: Path, changed: bool = True) -> None:
    model = (project / PKG / "model.py").read_text(encoding="utf-8")
    if changed:
        assert "# (B, 120)" in model and "# (N, " not in model, "the planner change is missing"
    else:
        assert "# (N, 120)" in model and "# (B, " not in model


def answers(project: Path) -> dict:
    import yaml

    return yaml.safe_load((project / ".copier-answers.yml").read_text(encoding="utf-8"))
