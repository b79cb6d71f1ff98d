"""`scaffold new`: render a checked blueprint through copier into a new project, atomically.

The project is rendered into a hidden temporary folder beside DEST, committed there, and moved
into place with one rename at the end: an interrupted run leaves no DEST (only, after a
SIGKILL, a `.DEST.scaffold-*` folder to delete) or the complete project, never half of one.

A template is opened (`open_template`) before anything is read: a local folder as it is, the
installed scaffold's bundled repository (made ready under a lock), or a temporary clone at the
wanted version. Its engine (scaffold/engine.py) reads and checks the blueprint, and the
template is rendered as copier renders it: by scaffold/local_template.py where that gives
copier's output, by copier itself otherwise.
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
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, redirect_stderr
from dataclasses import dataclass, field
from pathlib import Path

from . import __version__
from .bundled_template import BundledTemplate, installed
from .engine import Engine, engine_extension_path, engine_for
from .errors import UsageError
from .local_template import local_render_problem, render_local, template_config
from .resources import PACKAGED, REPOSITORY, git_toplevel, in_checkout, template_root
from .trust import code_on_disk, require_consent, untrusted

ANSWERS_FILE = ".copier-answers.yml"
# what copier reads as a git URL, and its shortcuts for hosted repositories (copier/_vcs.py)
GIT_ALIASES = {"gh:": "https://github.com/", "gl:": "https://gitlab.com/"}
GIT_PREFIXES = ("git@", "git://", "git+", "https://github.com/", "https://gitlab.com/")


@dataclass
class TemplateSource:
    """Where copier takes the template from, and whether projects can be updated from it."""

    src_path: str  # absolute path (or ~/...) or URL, as copier records it
    vcs_ref: str | None = None
    update_blocker: str = ""  # why projects from this source cannot be updated ("" if they can)
    changes: list[str] = field(default_factory=list)  # uncommitted changes to the template
    local_root: Path | None = None  # the template folder, when it is on this machine
    git: bool = False  # whether local_root is the root of a git repository
    at_head: bool = False  # vcs_ref is the commit checked out in local_root, which is clean
    bundled: BundledTemplate | None = None  # the installed scaffold's own template repository
    # its code may run: scaffold's own template, or one the user trusts (--trust)
    trusted: bool = False

    @property
    def dirty(self) -> bool:
        return bool(self.changes)

    @property
    def renders_locally(self) -> bool:
        """Whether the template is used from local_root as it is (git's HEAD with any
        uncommitted changes, or a folder outside git), without a clone."""
        return self.local_root is not None and (
            not self.git or self.vcs_ref == "HEAD" or self.at_head
        )


def is_url(template: str) -> bool:
    return "://" in template or template.startswith(("git@", "gh:", "gl:"))


def template_source(
    template: str | None = None, vcs_ref: str | None = None, trust: bool = False
) -> TemplateSource:
    """The bundled template (this checkout, or the installed scaffold's), or a team's URL or
    path. A local template without --vcs-ref means its newest release tag, as for copier.
    `trust`: the user trusts a team's template to run its code (--trust)."""
    if template is None:
        if not in_checkout():
            bundled = installed()
            if bundled is not None:
                return TemplateSource(
                    bundled.src_path,
                    vcs_ref or "HEAD",
                    local_root=bundled.repository,
                    git=True,
                    bundled=bundled,
                    trusted=True,
                )
            reason = (
                "this scaffold was installed without its template's history (a wheel built "
                "without git, or no git on this machine), so copier cannot find this version "
                "of the template again; install scaffold from a wheel built from its git "
                "repository, or generate from a git checkout (scaffold new --template PATH_OR_URL)"
            )
            root = template_root()
            return TemplateSource(
                str(root), vcs_ref, update_blocker=reason, local_root=root, trusted=True
            )
        root = REPOSITORY
        # this checkout's template as it is, not its newest tag (what a team's template uses)
        vcs_ref = vcs_ref or "HEAD"
    elif is_url(template):
        return TemplateSource(template, vcs_ref, trusted=trust)
    else:
        root = Path(template).expanduser().resolve()
        if not (root / "copier.yml").is_file() and not (root / "copier.yaml").is_file():
            raise UsageError(
                f"{template}: not a project template (no copier.yml in it)\n"
                "  hint: point --template at the root of a copy of scaffold's template repository"
            )
    trust = trust or _is_own(root)
    toplevel = git_toplevel(root)
    if toplevel is None:
        reason = (
            f"the template at {root} is not in a git repository, so copier cannot find this "
            "version of it again; to make projects updatable, generate them from a git checkout "
            "of the template (scaffold new --template PATH_OR_URL)"
        )
        return TemplateSource(
            str(root), vcs_ref, update_blocker=reason, local_root=root, trusted=trust
        )
    if toplevel != root.resolve():
        reason = (
            f"the template at {root} is a subfolder of the git repository {toplevel}; copier "
            "records template versions only for a repository's root"
        )
        return TemplateSource(
            str(root), vcs_ref, update_blocker=reason, local_root=root, trusted=trust
        )
    source = TemplateSource(str(root), vcs_ref, local_root=root, git=True, trusted=trust)
    if vcs_ref is None:
        source.vcs_ref = newest_tag(root) or "HEAD"  # copier's choice; HEAD with the changes
    # only changes to the template count (not to examples/ or tests/, in scaffold's own repo)
    # (bytecode the engine's import leaves in a template without a .gitignore is no change)
    # --no-optional-locks: a status killed with `scaffold new` must not leave index.lock behind
    # in the user's template checkout
    status = _git(
        root,
        "--no-optional-locks",
        "status",
        "--porcelain",
        "--untracked-files=all",
        "--",
        *_template_paths(root),
        ":(exclude,glob)**/*.pyc",
    )
    source.changes = [line[3:] for line in status.stdout.splitlines() if line.strip()]
    if source.vcs_ref != "HEAD" and not source.dirty:
        wanted = _git(root, "rev-parse", "--verify", "--quiet", f"{source.vcs_ref}^{{commit}}")
        head = _git(root, "rev-parse", "--verify", "--quiet", "HEAD")
        source.at_head = wanted.returncode == 0 and wanted.stdout == head.stdout
    return source


def new_source(
    template: str | None = None, vcs_ref: str | None = None, trust: bool = False
) -> TemplateSource:
    """The template `scaffold new` renders (template_source). A team's template is refused when
    its uncommitted changes would be rendered: the project would record a version without them
    (copier's `_commit`), which `scaffold check` and `scaffold update` then render instead."""
    source = template_source(template, vcs_ref, trust)
    own = source.local_root is not None and _is_own(source.local_root)
    if source.git and source.dirty and source.renders_locally and not own:
        head = _git(source.local_root, "rev-parse", "--short", "HEAD").stdout.strip()
        raise UsageError(
            f"the template {source.src_path} has uncommitted changes ({_listed(source.changes)}); "
            "a project records the template version it was generated from, and no version has "
            "them, so `scaffold check` and `scaffold update` could not render it again; nothing "
            "was written\n"
            f"  hint: commit them in the template (git -C {source.src_path} add -A && git -C "
            f"{source.src_path} commit), or generate from its last commit without them: "
            f"--vcs-ref {head or 'TAG'}"
        )
    return source


def _listed(names: list[str], most: int = 5) -> str:
    shown = ", ".join(names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def recorded_source(src_path: str, ref: str | None, trust: bool = False) -> TemplateSource:
    """The template a project records (`_src_path`, at `ref`), to render it again. `trust`: the
    user trusts it to run its code (--trust); scaffold's own template is trusted."""
    bundled = installed()
    if bundled is not None and bundled.is_source_of(src_path):
        return TemplateSource(
            src_path, ref, local_root=bundled.repository, git=True, bundled=bundled, trusted=True
        )
    if is_url(src_path):
        return TemplateSource(src_path, ref, trusted=trust)
    root = Path(src_path).expanduser()
    git = (root / ".git").exists()
    return TemplateSource(src_path, ref, local_root=root, git=git, trusted=trust or _is_own(root))


def _is_own(root: Path) -> bool:
    """Whether the template at `root` is scaffold's bundled one: this checkout's, or the plain
    copy in an installed package (the installed one's repository is `bundled`)."""
    root = root.resolve()
    return (in_checkout() and root == REPOSITORY) or root == PACKAGED


def _template_paths(root: Path) -> list[str]:
    """What belongs to the template in its repository: copier.yml, the rendered folder, the
    engine package copier.yml loads, and the team's blocks."""
    config = template_config(root)
    paths = ["copier.yml", "copier.yaml", str(config.get("_subdirectory", ".")), "blocks"]
    extension = engine_extension_path(config)
    if extension is not None:
        paths.append(str(extension.parent))
    return paths


def newest_tag(repo: Path) -> str | None:
    """The newest release tag of a git repository, as copier picks it: PEP 440 versions, no
    pre-releases."""
    from packaging.version import InvalidVersion, Version

    best: tuple[Version, str] | None = None
    for tag in _git(repo, "tag", "--list").stdout.split():
        try:
            version = Version(tag)
        except InvalidVersion:
            continue
        if not version.is_prerelease and (best is None or version > best[0]):
            best = (version, tag)
    return best[1] if best else None


@dataclass
class OpenTemplate:
    """A template ready to render: its files at `root` (at the wanted version) and its
    engine."""

    source: TemplateSource
    root: Path
    ref: str | None  # the version checked out at root, as copier is to be asked for it
    engine: Engine
    unsafe: bool = False  # copier may run the template's code (its consent checked here)


@contextmanager
def open_template(source: TemplateSource) -> Iterator[OpenTemplate]:
    """The template's files on this machine at the wanted version, with its engine, for as long
    as the block runs (a temporary clone is removed at the end). A template whose code the user
    has not trusted (scaffold/trust.py) is refused before its engine is imported."""
    with ExitStack() as stack:
        if source.bundled is not None:
            stack.enter_context(source.bundled.ready())
        if source.renders_locally:
            root, ref = source.local_root, source.vcs_ref
        else:
            root, ref = stack.enter_context(_checkout(source))
        unsafe = source.trusted
        try:
            config = template_config(root)
        except UsageError:
            # copier reads what this module cannot (e.g. !include); see render(): copier then
            # asks for consent itself
            config = {}
        else:
            if not source.trusted:
                require_consent(source.src_path, code_on_disk(root, config))
                unsafe = True  # it has no code, or copier's settings trust it
        engine = engine_for(root, config, same_as_running=source.bundled is not None)
        yield OpenTemplate(source, root, ref, engine, unsafe)


@contextmanager
def _checkout(source: TemplateSource) -> Iterator[tuple[Path, str]]:
    """A temporary clone of the template at its wanted version (copier's choice when none is
    given: the newest release tag, or HEAD)."""
    url = str(source.local_root) if source.local_root is not None else _git_url(source.src_path)
    with tempfile.TemporaryDirectory(prefix="scaffold-template-") as tmp:
        clone = Path(tmp) / "template"
        done = subprocess.run(
            ["git", "clone", "-q", "--no-checkout", "--", url, str(clone)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise UsageError(
                f"cannot get the template {source.src_path}: git clone failed: "
                f"{done.stderr.strip()}"
            )
        ref = source.vcs_ref or newest_tag(clone) or "HEAD"
        commit = _git(clone, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
        if commit.returncode != 0:
            raise UsageError(
                f"the template {source.src_path} has no version {ref!r}\n"
                f"  hint: its tags are: {', '.join(_git(clone, 'tag').stdout.split()) or 'none'}"
            )
        checked = _git(clone, "checkout", "-q", "--force", commit.stdout.strip())
        if checked.returncode != 0:
            raise UsageError(f"cannot check out {ref} of {source.src_path}: {checked.stderr}")
        yield clone, ref


def _git_url(url: str) -> str:
    """The URL git clones, for a template URL as copier reads it (copier/_vcs.py get_repo)."""
    for alias, base in GIT_ALIASES.items():
        if url.startswith(alias):
            rest = url[len(alias) :].lstrip("/")
            return base + rest + ("" if rest.endswith(".git") else ".git")
    if url.startswith("git+"):
        return url[4:]
    if url.endswith(".git") or url.startswith(GIT_PREFIXES):
        return url + ("" if url.endswith(".git") or not url.startswith("https://") else ".git")
    raise UsageError(
        f"{url}: copier reads a URL as a git repository only when it ends in .git or starts "
        "with git+ (it records the URL, and updates from it)\n"
        f"  hint: --template git+{url}"
    )


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=False
    )


@dataclass
class NewResult:
    dest: Path
    package: str
    plan: object = None  # the engine's model plan
    committed: bool = False
    backups: list[Path] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def render(opened: OpenTemplate, data: dict, into: Path) -> None:
    """Render the opened template with `data` (copier's answers) into the empty folder `into`,
    as copier does."""
    source = opened.source
    if local_render_problem(opened.root, data):
        _render_with_copier(source, into, data, opened.ref, unsafe=opened.unsafe)
    else:
        in_git = source.git or not source.renders_locally
        render_local(opened.root, into, data, source.src_path, in_git=in_git, engine=opened.engine)
    if source.update_blocker:
        answers = into / ANSWERS_FILE
        with answers.open("a", encoding="utf-8") as f:
            f.write(f"# scaffold: this project cannot be updated: {source.update_blocker}\n")
            f.write(f"_scaffold_update_blocker: {_yaml_string(source.update_blocker)}\n")


def render_project(blueprint, package: str, source: TemplateSource, into: Path) -> None:
    """Render the template for `blueprint` (read by any engine) into the empty folder `into`."""
    with open_template(source) as opened:
        render(opened, {"package_name": package, "blueprint": blueprint.raw}, into)


def _render_with_copier(
    source: TemplateSource,
    into: Path,
    data: dict,
    vcs_ref: str | None = None,
    unsafe: bool | None = None,
) -> None:
    """`unsafe`: copier may run the template's code (default: the user trusts the source);
    otherwise copier asks for consent itself."""
    import copier  # imported here: validate, inspect and local renders stay fast without it
    from copier.errors import UnsafeTemplateError

    chatter = io.StringIO()
    try:
        with warnings.catch_warnings(), redirect_stderr(chatter):
            warnings.simplefilter("ignore")  # copier's DirtyLocalWarning etc.: reported our way
            copier.run_copy(
                source.src_path,
                str(into),
                data=data,
                vcs_ref=vcs_ref or source.vcs_ref,
                defaults=True,
                overwrite=True,
                quiet=True,
                unsafe=source.trusted if unsafe is None else unsafe,
                skip_tasks=True,
            )
    except UnsafeTemplateError as error:
        raise untrusted(source.src_path, error) from None


def _yaml_string(text: str) -> str:
    import json

    return json.dumps(text)  # a JSON string is a valid YAML scalar


def new_project(
    blueprint,
    dest: Path,
    package: str | None = None,
    force: bool = False,
    template: str | None = None,
    vcs_ref: str | None = None,
    git: bool = True,
    opened: OpenTemplate | None = None,
    plan=None,
    trust: bool = False,
) -> NewResult:
    """Generate a project from `blueprint` into `dest`. The blueprint is checked by the
    template's engine (`opened`, when the caller has the template open already; `plan`, when it
    has checked the blueprint with it too)."""
    if opened is None:
        with open_template(new_source(template, vcs_ref, trust)) as opened:
            return new_project(blueprint, dest, package, force, git=git, opened=opened)
    engine = opened.engine
    if plan is None:
        blueprint, plan = engine.check(blueprint)  # shape and name problems, located in its file
    dest = Path(dest)
    package = package or engine.package_name_for(dest.resolve().name)
    problem = engine.package_problem(package)
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
    source = opened.source
    result = NewResult(dest=dest, package=package, plan=plan)
    if source.dirty and source.renders_locally:  # this checkout's own template (new_source)
        result.notes.append(
            f"this checkout's template has uncommitted changes ({_listed(source.changes)}); "
            "they were used, but the project records the last commit, which lacks them"
        )
    elif source.dirty:
        result.notes.append(
            f"the template has uncommitted changes ({_listed(source.changes)}); they are not in "
            f"{opened.ref}, the version this project was generated from"
        )
    if source.update_blocker:
        result.notes.append(f"this project cannot be updated: {source.update_blocker}")

    _hand_over(engine, package, blueprint, plan)
    with _staging_dir(parent, dest.name) as staging:
        render(opened, {"package_name": package, "blueprint": blueprint.raw}, staging)
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


def _hand_over(engine: Engine, package: str, blueprint, plan) -> None:
    """Give the render the blueprint this command read and planned, so that it is read and
    planned once. The answers file keeps the blueprint's key order, so `check` and `update`
    render it from that file as this does. (Template versions from before this build their
    project themselves.)"""
    remember = getattr(engine.module("jinja_ext"), "remember", None)
    if remember is not None:
        remember(engine.module("project").Project(package, blueprint, plan))


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


def _git_commit(project: Path, blueprint) -> bool:
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
