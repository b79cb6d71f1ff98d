"""Rendering a local template folder as `copier copy` would, without copier's fixed costs.

`scaffold new` from this checkout's template (or a team's local template at HEAD) does not need
what makes `copier copy` take most of a second: importing copier, cloning the template repository
into a temporary folder and deleting it again, and a `git config` call per rendered file. This
module renders the same files with the same Jinja environment, file-name rules, exclusions,
modes and answers file; tests require its output to be byte-for-byte copier's. Everything else
(remote templates, other versions, `scaffold update` and `check`) goes through copier itself.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path, PurePath

import yaml
from jinja2 import FileSystemLoader
from jinja2.sandbox import SandboxedEnvironment

from .errors import UsageError
from .formatting import format_many

# copier's defaults for these settings (copier/_template.py)
DEFAULT_EXCLUDE = (
    "copier.yaml",
    "copier.yml",
    "~*",
    "*.py[co]",
    "__pycache__",
    ".git",
    ".DS_Store",
    ".svn",
)
DEFAULT_SUFFIX = ".jinja"
DEFAULT_ANSWERS_FILE = ".copier-answers.yml"


def template_config(root: Path) -> dict:
    for name in ("copier.yml", "copier.yaml"):
        if (root / name).is_file():
            return yaml.safe_load((root / name).read_text(encoding="utf-8")) or {}
    raise UsageError(f"{root}: no copier.yml")


def _git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=True
    )
    return done.stdout


def template_files(root: Path, subdirectory: str, in_git: bool) -> list[tuple[Path, bool]]:
    """The template's files under `subdirectory` as copier's clone holds them: what git tracks
    plus what it does not ignore (copier commits uncommitted changes into its clone), each with
    whether it is executable (git's mode, not the working tree's)."""
    base = root / subdirectory
    if not in_git:
        files = [p for p in base.rglob("*") if p.is_file()]
        return [(p.relative_to(base), os.access(p, os.X_OK)) for p in sorted(files)]
    listed = _git(
        root,
        "ls-files",
        "-z",
        "--cached",
        "--others",
        "--exclude-standard",
        "-s",
        "--",
        subdirectory,
    )
    executable: dict[str, bool] = {}
    for entry in listed.split("\0"):
        if not entry:
            continue
        if "\t" in entry:  # tracked: "MODE SHA STAGE\tPATH"
            info, path = entry.split("\t", 1)
            executable[path] = info.startswith("100755")
        else:  # untracked, not ignored: the working tree decides
            executable[entry] = os.access(root / entry, os.X_OK)
    result = []
    for path, is_exec in sorted(executable.items()):
        if (root / path).is_file():  # tracked but deleted: copier's commit of the changes drops it
            result.append((Path(path).relative_to(subdirectory), is_exec))
    return result


def _bytecode_cache():
    from jinja2 import FileSystemBytecodeCache

    from .formatting import cache_dir

    folder = cache_dir()
    if folder is None:
        return None
    folder = folder.parent / "jinja"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return FileSystemBytecodeCache(str(folder))


def describe(root: Path) -> str:
    """The template version copier records as `_commit`."""
    return _git(root, "describe", "--tags", "--always").strip()


def render_local(root: Path, dest: Path, data: dict, src_path: str, in_git: bool) -> None:
    """Render the template at `root` (a folder with copier.yml) into the empty folder `dest`."""
    import pathspec

    config = template_config(root)
    subdirectory = config.get("_subdirectory", "")
    suffix = config.get("_templates_suffix", DEFAULT_SUFFIX)
    answers_file = config.get("_answers_file", DEFAULT_ANSWERS_FILE)
    # the pattern style copier picks for the installed pathspec
    style = "gitignore" if int(pathspec.__version__.split(".")[0]) >= 1 else "gitwildmatch"
    exclude = pathspec.PathSpec.from_lines(style, config.get("_exclude", DEFAULT_EXCLUDE))
    envops = {"keep_trailing_newline": True, **config.get("_envops", {})}
    extensions = [
        "jinja2_ansible_filters.AnsibleCoreFiltersExtension",
        *config.get("_jinja_extensions", []),
    ]
    environment = SandboxedEnvironment(
        loader=FileSystemLoader(str(root)),
        extensions=extensions,
        bytecode_cache=_bytecode_cache(),  # compiled templates, keyed by their source
        **envops,
    )
    questions = [key for key in config if not key.startswith("_")]
    answers = {"_commit": describe(root)} if in_git else {}
    answers["_src_path"] = src_path
    answers.update((key, data[key]) for key in questions if key in data)
    context = {
        **{key: data[key] for key in questions if key in data},
        "_copier_answers": answers,
        "_copier_conf": {
            "answers_file": PurePath(answers_file),
            "src_path": PurePath(root),
            "dst_path": PurePath(dest),
            "sep": os.sep,
        },
        "_folder_name": dest.name,
        "_copier_python": sys.executable,
    }
    # The black filter only marks what it would format; all of it is formatted at the end, on
    # every core at once (format_many). The result is the same as formatting one file at a time.
    pending: list[str] = []

    def defer_black(source: str) -> str:
        pending.append(source)
        return f"\0black:{len(pending) - 1}\0"

    environment.filters["black"] = defer_black
    outputs: list[tuple[Path, bytes | str, bool]] = []
    for relative, executable in template_files(root, subdirectory, in_git):
        is_template = bool(suffix) and relative.name.endswith(suffix)
        if is_template and (root / subdirectory / relative).with_suffix("").exists():
            continue  # copier skips a file that has a templated sibling
        target = relative.with_suffix("") if is_template else relative
        parts = [
            (
                environment.from_string(part).render(**context) if "{" in part else part
            )  # Jinja or literal
            for part in target.parts
        ]
        if not all(parts):
            continue  # a part that renders empty: the file is not wanted
        rendered = Path(*parts)
        if exclude.match_file(rendered.as_posix()):  # a pattern naming a folder covers its files
            continue
        source = Path(subdirectory) / relative
        if is_template:
            content = environment.get_template(source.as_posix()).render(**context)
        else:
            content = (root / source).read_bytes()
        outputs.append((dest / rendered, content, executable))
    formatted = format_many(pending)
    umask = os.umask(0)
    os.umask(umask)
    for path, content, executable in outputs:
        if isinstance(content, str):
            for i in re.findall(r"\0black:(\d+)\0", content):
                content = content.replace(f"\0black:{i}\0", formatted[int(i)])
            content = content.encode()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        mode = 0o666 & ~umask
        if executable:
            mode |= 0o111 & ~umask
        os.chmod(path, mode)
