"""`scaffold update` and `scaffold check`: keep generated projects in step with their template.

An update is copier's: render the recorded template version with the recorded answers, diff that
against the project (the user's edits), render the new version, and re-apply the edits. Copier
exits 0 even when edits collide with template changes; this module looks for the collisions
itself (unmerged files in git, `.rej` files, conflict markers) and reports them.
"""

from __future__ import annotations

import difflib
import io
import subprocess
import tempfile
import warnings
from contextlib import redirect_stderr
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .blueprint import Blueprint, blueprint_from_data
from .errors import UsageError
from .render import ANSWERS_FILE, TemplateSource, render_project, template_source

UNMERGED = {"DD", "AU", "UD", "UA", "DU", "AA", "UU"}
MARKERS = ("<<<<<<< ", ">>>>>>> ")
VOLATILE_ANSWERS = {"_commit", "_src_path", "_scaffold_update_blocker"}
# --vcs-ref for "the template version the project was generated from", as on copier's command line
CURRENT = ":current:"


def read_answers(project: Path) -> dict:
    path = project / ANSWERS_FILE
    if not project.is_dir():
        raise UsageError(f"{project}: no such folder")
    if not path.is_file():
        raise UsageError(
            f"{project} is not a scaffold project: it has no {ANSWERS_FILE}\n"
            "  hint: generate projects with `scaffold new`; their answers file records the "
            "blueprint and template version"
        )
    try:
        answers = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise UsageError(f"{path} is not valid YAML ({error}); restore it from git") from None
    if not isinstance(answers.get("blueprint"), dict) or not answers.get("package_name"):
        raise UsageError(f"{path} records no blueprint or package name; restore it from git")
    return answers


def _git(project: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["git", "-C", str(project), *args], capture_output=True, text=True, check=False
    )


@dataclass
class UpdateReport:
    project: Path
    changed: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"note: {note}" for note in self.notes]
        if not self.changed:
            lines.append(f"{self.project} is up to date: nothing changed.")
            return "\n".join(lines)
        count = len(self.changed)
        lines.append(
            f"Updated {self.project}: {count} {'file' if count == 1 else 'files'} changed."
        )
        if self.conflicts:
            count = len(self.conflicts)
            lines.append(
                f"{count} {'file has' if count == 1 else 'files have'} conflicts (your edits and the "
                "template's changes touch the same lines); resolve the <<<<<<< / >>>>>>> markers, "
                "then commit:"
            )
            lines += [f"  {name}" for name in self.conflicts]
        else:
            lines.append("Your edits were kept. Review with `git diff`, then commit.")
        return "\n".join(lines)


def update_project(
    project: Path, blueprint: Blueprint | None = None, vcs_ref: str | None = None
) -> UpdateReport:
    project = Path(project).resolve()
    answers = read_answers(project)
    if answers.get("_scaffold_update_blocker"):
        raise UsageError(f"{project} cannot be updated: {answers['_scaffold_update_blocker']}")
    if not answers.get("_commit"):
        raise UsageError(
            f"{project} cannot be updated: its {ANSWERS_FILE} records no template version "
            "(_commit); it was generated from a template outside git"
        )
    if _git(project, "rev-parse", "--is-inside-work-tree").returncode != 0:
        raise UsageError(
            f"{project} is not a git repository; updating merges your edits with git\n"
            "  hint: git init && git add -A && git commit -m 'my project'"
        )
    _check_recorded_template(project, answers.get("_src_path") or "")
    dirty = _git(project, "status", "--porcelain").stdout.strip()
    if dirty:
        raise UsageError(
            f"{project} has uncommitted changes; commit or stash them first, so that the update "
            "can be told apart from your work:\n" + _indent(dirty)
        )
    data = {}
    if blueprint is not None:
        data["blueprint"] = blueprint.raw
        vcs_ref = vcs_ref or CURRENT  # only the blueprint changes, not the template version

    import copier

    if vcs_ref == CURRENT:
        vcs_ref = _current_ref(answers)

    chatter = io.StringIO()
    try:
        with warnings.catch_warnings(), redirect_stderr(chatter):
            warnings.simplefilter("ignore")
            copier.run_update(
                str(project),
                data=data,
                defaults=True,
                overwrite=True,
                quiet=True,
                unsafe=True,
                skip_tasks=True,
                vcs_ref=vcs_ref,
                conflict="inline",
            )
    except Exception as error:  # copier's own errors carry readable messages
        message = str(error).strip() or type(error).__name__
        raise UsageError(
            f"the update failed: {message}\n{_indent(chatter.getvalue().strip())}".rstrip()
        ) from None
    report = UpdateReport(project)
    for code, name in _changed_files(project):
        report.changed.append(name)
        if code in UNMERGED or name.endswith(".rej"):
            report.conflicts.append(name)
        elif _has_markers(project / name):
            report.conflicts.append(name)
    return report


def _check_recorded_template(project: Path, src: str) -> None:
    """A template that moved or lost its git history makes copier fail with "Updating is only
    supported in git-tracked templates"; say what is wrong and what to do instead."""
    if not src or "://" in src or src.startswith(("git@", "gh:", "gl:")):
        return  # a URL: copier's own message (network, authentication) is the useful one
    where = Path(src)
    if not where.is_absolute():
        return  # not written by scaffold (which records absolute paths): copier resolves it
    hint = (
        f"  hint: if the template moved, set _src_path in {project / ANSWERS_FILE} to its new "
        "path or URL, commit, and run the update again"
    )
    if not where.is_dir():
        raise UsageError(
            f"{project} cannot be updated: its template {src} does not exist (any more)\n{hint}"
        )
    if _git(where, "rev-parse", "--git-dir").returncode != 0:
        raise UsageError(
            f"{project} cannot be updated: its template {src} is not a git repository (any more), "
            f"so the version it was generated from cannot be found\n{hint}"
        )


def _changed_files(project: Path) -> list[tuple[str, str]]:
    """(status code, path relative to the project) for each changed file under the project.

    `git status --porcelain` names files relative to the repository's root, which is not the
    project's folder when the project is a subfolder of a larger repository; -z keeps names
    with spaces or non-ASCII characters unquoted."""
    prefix = _git(project, "rev-parse", "--show-prefix").stdout.strip()
    out = _git(project, "status", "--porcelain", "-z", "--untracked-files=all", "--", ".").stdout
    entries = out.split("\0")
    changed = []
    i = 0
    while i < len(entries):
        entry = entries[i]
        i += 1
        if len(entry) < 4:
            continue
        code, name = entry[:2], entry[3:]
        if code[0] in "RC":
            i += 1  # a rename or copy: the next entry is the old name
        if prefix and name.startswith(prefix):
            name = name[len(prefix) :]
        changed.append((code, name))
    return changed


def _current_ref(answers: dict):
    """`:current:` (the recorded template version) is a word of copier's command line; its Python
    API takes an enum instead, and looks the string up as a git revision ("Unknown revision")."""
    try:
        from copier import VcsRef
    except ImportError:  # an older copier: the recorded commit is the same version
        return answers["_commit"]
    return VcsRef.CURRENT


def _has_markers(path: Path) -> bool:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    return any(line.startswith(MARKERS) for line in text.splitlines())


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


@dataclass
class CheckReport:
    project: Path
    source: str
    diffs: list[tuple[str, str]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.diffs and not self.missing

    def text(self) -> str:
        if self.ok:
            return f"{self.project}: every generated file matches its blueprint and template ({self.source})."
        lines = [
            f"{self.project}: generated files differ from what the blueprint and template give ({self.source}):"
        ]
        for name in self.missing:
            lines.append(f"  missing: {name}")
        for name, _ in self.diffs:
            lines.append(f"  changed: {name}")
        lines.append("")
        lines += [diff for _, diff in self.diffs]
        lines.append(
            "If these are your edits, that is fine; if the files are meant to be generated "
            "(e.g. examples/), regenerate them."
        )
        return "\n".join(lines)


def check_project(
    project: Path, template: str | None = None, vcs_ref: str | None = None
) -> CheckReport:
    """Re-render the project from its recorded blueprint and template version (or from
    `template`) into a temporary folder and compare every generated file."""
    project = Path(project)
    answers = read_answers(project)
    blueprint = blueprint_from_data(answers["blueprint"], f"{project / ANSWERS_FILE}: blueprint")
    if template is not None:
        vcs_ref = vcs_ref or "HEAD"  # the template as it is now, not its newest tag
        source = template_source(template, vcs_ref)
        described = f"template {source.src_path} at {vcs_ref}"
    else:
        src = answers.get("_src_path")
        if not src:
            raise UsageError(f"{project / ANSWERS_FILE} records no template (_src_path)")
        ref = vcs_ref or answers.get("_commit")
        source = TemplateSource(src, ref)
        described = f"template {src}" + (f" at {ref}" if ref else "")
    with tempfile.TemporaryDirectory(prefix="scaffold-check-") as tmp:
        rendered = Path(tmp) / "project"
        rendered.mkdir()
        try:
            render_project(blueprint, answers["package_name"], source, rendered)
        except Exception as error:
            raise UsageError(f"cannot render {described}: {error}") from None
        report = CheckReport(project, described)
        for path in sorted(p for p in rendered.rglob("*") if p.is_file()):
            name = str(path.relative_to(rendered))
            if ".git" in Path(name).parts:
                continue
            mine = project / name
            if not mine.is_file():
                report.missing.append(name)
                continue
            if name == ANSWERS_FILE:
                if _answers_differ(path, mine):
                    report.diffs.append((name, _diff(path, mine, name)))
                continue
            if mine.read_bytes() != path.read_bytes():
                report.diffs.append((name, _diff(path, mine, name)))
    return report


def _answers_differ(expected: Path, actual: Path) -> bool:
    def meaningful(path: Path) -> dict:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return {k: v for k, v in data.items() if k not in VOLATILE_ANSWERS}

    return meaningful(expected) != meaningful(actual)


def _diff(expected: Path, actual: Path, name: str) -> str:
    try:
        a = expected.read_text(encoding="utf-8").splitlines(keepends=True)
        b = actual.read_text(encoding="utf-8").splitlines(keepends=True)
    except UnicodeDecodeError:
        return f"Binary files {name} differ\n"
    return "".join(difflib.unified_diff(a, b, f"generated/{name}", f"project/{name}"))
