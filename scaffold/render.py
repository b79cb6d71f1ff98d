"""`scaffold new`: render a checked blueprint through copier into a new project, atomically.

The project is rendered into a hidden temporary folder beside DEST, committed there, and moved
into place with one rename at the end: an interrupted run leaves no DEST (only, after a
SIGKILL, a `.DEST.scaffold-*` folder to delete) or the complete project, never half of one.
"""

from __future__ import annotations

import filecmp
import io
import os
import shutil
import signal
import subprocess
import tempfile
import time
import warnings
from contextlib import contextmanager, redirect_stderr
from dataclasses import dataclass, field
from pathlib import Path

from . import __version__
from .blueprint import Blueprint
from .errors import UsageError
from .local_template import render_local, template_config
from .plan import build_plan
from .project import package_name_for, package_problem
from .resources import git_toplevel, template_root

ANSWERS_FILE = ".copier-answers.yml"


@dataclass
class TemplateSource:
    """Where copier takes the template from, and whether projects can be updated from it."""

    src_path: str  # absolute path or URL, as copier records it
    vcs_ref: str | None = None
    update_blocker: str = ""  # why projects from this source cannot be updated ("" if they can)
    dirty: bool = False
    local_root: Path | None = None  # the template folder, when it is on this machine
    git: bool = False  # whether local_root is the root of a git repository

    @property
    def renders_locally(self) -> bool:
        """Whether scaffold can render it as copier would without running copier: a local folder
        as it is now (git's HEAD with any uncommitted changes, or a folder outside git)."""
        return self.local_root is not None and (not self.git or self.vcs_ref == "HEAD")


def template_source(template: str | None = None, vcs_ref: str | None = None) -> TemplateSource:
    """The bundled template (this checkout, or the installed copy), or a team's URL or path."""
    if template is None:
        root = template_root()
        # this checkout's template as it is, not its newest tag (what a team's template uses)
        vcs_ref = vcs_ref or "HEAD"
    elif (
        "://" in template
        or template.startswith("git@")
        or template.startswith("gh:")
        or template.startswith("gl:")
    ):
        return TemplateSource(template, vcs_ref)
    else:
        root = Path(template).expanduser().resolve()
        if not (root / "copier.yml").is_file() and not (root / "copier.yaml").is_file():
            raise UsageError(
                f"{template}: not a project template (no copier.yml in it)\n"
                "  hint: point --template at the root of a copy of scaffold's template repository"
            )
    toplevel = git_toplevel(root)
    if toplevel is None:
        reason = (
            f"the template at {root} is not in a git repository, so copier cannot find this "
            "version of it again; to make projects updatable, generate them from a git checkout "
            "of the template (scaffold new --template PATH_OR_URL)"
        )
        return TemplateSource(str(root), vcs_ref, update_blocker=reason, local_root=root)
    if toplevel != root.resolve():
        reason = (
            f"the template at {root} is a subfolder of the git repository {toplevel}; copier "
            "records template versions only for a repository's root"
        )
        return TemplateSource(str(root), vcs_ref, update_blocker=reason, local_root=root)
    # only changes to the template count (not to examples/ or the tool, in scaffold's own repo)
    template_paths = ["copier.yml", "copier.yaml", template_config(root).get("_subdirectory", ".")]
    status = subprocess.run(
        ["git", "-C", str(root), "status", "--porcelain", "--", *template_paths],
        capture_output=True,
        text=True,
        check=False,
    )
    dirty = bool(status.stdout.strip())
    return TemplateSource(str(root), vcs_ref, dirty=dirty, local_root=root, git=True)


@dataclass
class NewResult:
    dest: Path
    package: str
    committed: bool = False
    backups: list[Path] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def render_project(blueprint: Blueprint, package: str, source: TemplateSource, into: Path) -> None:
    """Render the template for `blueprint` into the empty folder `into`: as copier does, and
    without copier's fixed costs when the template is a local folder as it is now."""
    data = {"package_name": package, "blueprint": blueprint.raw}
    if source.renders_locally:
        render_local(source.local_root, into, data, source.src_path, in_git=source.git)
    else:
        _render_with_copier(source, into, data)
    if source.update_blocker:
        answers = into / ANSWERS_FILE
        with answers.open("a", encoding="utf-8") as f:
            f.write(f"# scaffold: this project cannot be updated: {source.update_blocker}\n")
            f.write(f"_scaffold_update_blocker: {_yaml_string(source.update_blocker)}\n")


def _render_with_copier(source: TemplateSource, into: Path, data: dict) -> None:
    import copier  # imported here: validate, inspect and local renders stay fast without it

    chatter = io.StringIO()
    with warnings.catch_warnings(), redirect_stderr(chatter):
        warnings.simplefilter("ignore")  # copier's DirtyLocalWarning etc.: reported our own way
        copier.run_copy(
            source.src_path,
            str(into),
            data=data,
            vcs_ref=source.vcs_ref,
            defaults=True,
            overwrite=True,
            quiet=True,
            unsafe=True,  # our own Jinja extension; the template is ours or the team's
            skip_tasks=True,
        )


def _yaml_string(text: str) -> str:
    import json

    return json.dumps(text)  # a JSON string is a valid YAML scalar


def new_project(
    blueprint: Blueprint,
    dest: Path,
    package: str | None = None,
    force: bool = False,
    template: str | None = None,
    vcs_ref: str | None = None,
    git: bool = True,
) -> NewResult:
    build_plan(blueprint)  # shape and name problems, located in the blueprint's own file
    dest = Path(dest)
    package = package or package_name_for(dest.resolve().name)
    problem = package_problem(package)
    if problem:
        raise UsageError(f"--name: {problem}\n  hint: pass a valid name with --name PKG")
    existing = dest.exists()
    if existing and not dest.is_dir():
        raise UsageError(f"{dest} exists and is not a folder")
    if existing and any(dest.iterdir()) and not force:
        raise UsageError(
            f"{dest} already exists and is not empty; nothing was written\n"
            "  hint: choose a new folder, or pass --force to add the generated files to it "
            "(files it would replace are backed up first; see scaffold new --help)"
        )
    parent = dest.resolve().parent
    if not parent.is_dir():
        raise UsageError(f"{parent} does not exist; create it first")
    source = template_source(template, vcs_ref)
    result = NewResult(dest=dest, package=package)
    if source.dirty:
        result.notes.append(
            "the template has uncommitted changes; they were used, but this project records a "
            "commit that exists only in copier's temporary clone"
        )
    if source.update_blocker:
        result.notes.append(f"this project cannot be updated: {source.update_blocker}")

    with _staging_dir(parent, dest.name) as staging:
        render_project(blueprint, package, source, staging)
        if existing and any(dest.iterdir()):
            _merge_into(staging, dest, result)
            return result
        enclosing = git_toplevel(parent) if git else None
        if enclosing is not None:
            result.notes.append(
                f"{dest} is inside the git repository {enclosing}: not making it a repository "
                "of its own; commit it there (scaffold update works from there too)"
            )
        elif git and shutil.which("git"):
            result.committed = _git_commit(staging, blueprint)
        if existing:
            dest.rmdir()  # empty: replaced by the rendered folder in one rename
        os.replace(staging, dest)
    return result


@contextmanager
def _staging_dir(parent: Path, name: str):
    """A temporary folder beside DEST, removed unless it was moved into place; SIGTERM and Ctrl-C
    clean it up too."""
    _remove_abandoned_staging(parent, name)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.scaffold-{os.getpid()}-", dir=parent))
    umask = os.umask(0)
    os.umask(umask)
    staging.chmod(0o777 & ~umask)  # mkdtemp makes it private; the project should not be

    def terminate(signum, frame):
        raise KeyboardInterrupt

    previous = None
    try:
        previous = signal.signal(signal.SIGTERM, terminate)
    except ValueError:  # not the main thread
        previous = None
    try:
        yield staging
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _remove_abandoned_staging(parent: Path, name: str) -> None:
    """Staging folders left by a `scaffold new` that was killed (SIGKILL leaves no chance to
    clean up): removed once the process that made them is gone."""
    for folder in parent.glob(f".{name}.scaffold-*-*"):
        pid = folder.name[len(f".{name}.scaffold-") :].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _merge_into(staging: Path, dest: Path, result: NewResult) -> None:
    """--force: write the generated files into an existing folder. Files the user has there are
    kept; a generated file that would replace different content first moves the old one to
    .scaffold-backup/TIME/, and nothing else is touched."""
    backup_root = dest / ".scaffold-backup" / time.strftime("%Y%m%d-%H%M%S")
    for path in sorted(staging.rglob("*")):
        if path.is_dir():
            continue
        relative = path.relative_to(staging)
        target = dest / relative
        if target.exists() and target.is_file() and filecmp.cmp(path, target, shallow=False):
            continue
        if target.exists() or target.is_symlink():
            if target.is_dir() and not target.is_symlink():
                raise UsageError(
                    f"{target} is a folder where the project has a file; nothing was written"
                )
            backup = backup_root / relative
            backup.parent.mkdir(parents=True, exist_ok=True)
            os.replace(target, backup)
            result.backups.append(backup)
            result.replaced.append(str(relative))
        else:
            result.added.append(str(relative))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)


def _git_commit(project: Path, blueprint: Blueprint) -> bool:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": os.environ.get("GIT_AUTHOR_NAME")
        or _git_config("user.name")
        or "scaffold",
        "GIT_AUTHOR_EMAIL": os.environ.get("GIT_AUTHOR_EMAIL")
        or _git_config("user.email")
        or "scaffold@localhost",
    }
    env["GIT_COMMITTER_NAME"] = os.environ.get("GIT_COMMITTER_NAME") or env["GIT_AUTHOR_NAME"]
    env["GIT_COMMITTER_EMAIL"] = os.environ.get("GIT_COMMITTER_EMAIL") or env["GIT_AUTHOR_EMAIL"]
    commands = [
        ["git", "init", "-q", "-b", "main"],
        ["git", "add", "-A"],
        [
            "git",
            "commit",
            "-q",
            "--no-verify",
            "--no-gpg-sign",
            "-m",
            f"Generated by scaffold {__version__} from the blueprint {blueprint.name}",
        ],
    ]
    for command in commands:
        done = subprocess.run(
            command, cwd=project, env=env, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            shutil.rmtree(project / ".git", ignore_errors=True)
            return False
    return True


def _git_config(key: str) -> str:
    done = subprocess.run(
        ["git", "config", "--get", key], capture_output=True, text=True, check=False
    )
    return done.stdout.strip()
