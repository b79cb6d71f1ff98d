"""Rendering a template checkout as `copier copy` would, without copier's fixed costs.

`scaffold new` does not need what makes `copier copy` take most of a second: importing copier,
cloning the template repository into a temporary folder and deleting it again, and a `git config`
call per rendered file. This module renders the same files with the same Jinja environment,
file-name rules, exclusions, modes and answers file; tests require its output to be byte-for-byte
copier's. It covers the settings scaffold's template and its forks use (`local_render_problem`
says when a template needs copier itself, which then renders it).

Extensions named by a path in the template (`scaffold/copier_extension.py:ScaffoldExtension`,
what copier-template-extensions loads for copier) are loaded here the same way, without
importing copier: the template's engine (scaffold/engine.py) for scaffold's own extension, the
file executed as a module otherwise.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path, PurePath, PurePosixPath

import yaml
from jinja2 import FileSystemLoader
from jinja2.sandbox import SandboxedEnvironment

from .errors import UsageError

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
# copier.yml settings this module renders as copier does (tasks, migrations and messages do not
# change what `copier copy --skip-tasks --quiet` writes)
LOCAL_SETTINGS = {
    "_subdirectory",
    "_min_copier_version",
    "_answers_file",
    "_exclude",
    "_jinja_extensions",
    "_templates_suffix",
    "_envops",
    "_tasks",
    "_migrations",
    "_message_before_copy",
    "_message_after_copy",
    "_message_before_update",
    "_message_after_update",
}


def template_config(root: Path) -> dict:
    for name in ("copier.yml", "copier.yaml"):
        if (root / name).is_file():
            text = (root / name).read_text(encoding="utf-8")
            try:
                return yaml.safe_load(text) or {}
            except yaml.YAMLError as error:  # e.g. copier's !include: copier reads it
                raise UsageError(f"{root / name}: not plain YAML ({error})") from None
    raise UsageError(f"{root}: no copier.yml")


def local_render_problem(root: Path, data: dict) -> str:
    """Why the template at `root` must be rendered by copier itself, or "" when this module
    renders it exactly as copier does."""
    try:
        config = template_config(root)
    except UsageError as error:
        return str(error)
    for key, value in config.items():
        if key.startswith("_"):
            if key not in LOCAL_SETTINGS:
                return f"copier.yml sets {key}"
            if key in ("_subdirectory", "_exclude", "_answers_file") and "{" in str(value):
                return f"copier.yml's {key} is a Jinja template"
            if key == "_envops" and "undefined" in (value or {}):
                return "copier.yml sets _envops.undefined"
        elif key not in data:
            return f"copier.yml asks {key}, which scaffold does not answer"
        elif isinstance(value, dict) and ({"validator", "secret"} & value.keys()):
            return f"copier.yml's question {key} has a validator or is secret"
    return ""


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


def jinja_extensions(root: Path, config: dict, engine) -> list:
    """copier.yml's `_jinja_extensions` as copier with copier-template-extensions loads them:
    `path.py:Class` relative to the template root, dotted names from the installed packages."""
    from .engine import ENGINE_EXTENSIONS, PATH_LOADER, engine_extension_path

    own = engine_extension_path(config)
    result: list = ["jinja2_ansible_filters.AnsibleCoreFiltersExtension"]
    for entry in config.get("_jinja_extensions", None) or []:
        if entry == PATH_LOADER:
            continue  # what it does for copier (paths) is done here
        if isinstance(entry, str) and ":" in entry:
            path, name = entry.split(":", 1)
            if own is not None and PurePosixPath(path) == own and name in ENGINE_EXTENSIONS:
                result.append(getattr(engine.module("jinja_ext"), name))
                continue
            if path.endswith(".py") or "/" in path:
                result.append(getattr(_load_template_module(root, path), name))
                continue
            result.append(getattr(importlib.import_module(path), name))
            continue
        result.append(entry)
    return result


def _load_template_module(root: Path, relative: str):
    """A template's extension file, executed as copier-template-extensions does."""
    path = root / relative
    if not path.is_file():
        raise UsageError(
            f"{root}: copier.yml names the extension file {relative}, which is missing"
        )
    name = f"copier_template_extensions.{Path(relative).stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def render_local(
    root: Path,
    dest: Path,
    data: dict,
    src_path: str,
    in_git: bool,
    engine=None,
    only: frozenset[str] | None = None,
) -> None:
    """Render the template at `root` (a folder with copier.yml) into the empty folder `dest`,
    with the template's `engine` (scaffold/engine.py; found from `root` when not given).
    `only`: the project's files to write (paths relative to `dest`, e.g. `configs/default.yaml`),
    each as it is in the whole project; all of them when None."""
    import pathspec

    config = template_config(root)
    if engine is None:
        from .engine import engine_for

        engine = engine_for(root, config)
    subdirectory = config.get("_subdirectory", "")
    suffix = config.get("_templates_suffix", DEFAULT_SUFFIX)
    answers_file = config.get("_answers_file", DEFAULT_ANSWERS_FILE)
    # the pattern style copier picks for the installed pathspec
    style = "gitignore" if int(pathspec.__version__.split(".")[0]) >= 1 else "gitwildmatch"
    exclude = pathspec.PathSpec.from_lines(style, config.get("_exclude", DEFAULT_EXCLUDE))
    envops = {"keep_trailing_newline": True, **config.get("_envops", {})}
    environment = SandboxedEnvironment(
        loader=FileSystemLoader(str(root)),
        extensions=jinja_extensions(root, config, engine),
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
    # every core at once (the engine's format_many). The result is the same as formatting one
    # file at a time.
    format_many = _format_many(engine)
    pending: list[str] = []

    def defer_black(source: str) -> str:
        pending.append(source)
        return f"\0black:{len(pending) - 1}\0"

    if format_many is not None:
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
        if only is not None and rendered.as_posix() not in only:
            continue
        source = Path(subdirectory) / relative
        if is_template:
            content = environment.get_template(source.as_posix()).render(**context)
        else:
            content = (root / source).read_bytes()
        outputs.append((dest / rendered, content, executable))
    formatted = format_many(pending) if pending else []
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


def _format_many(engine):
    """The engine's batch formatter (formatting.format_many), or None: then its own black
    filter formats each file as it renders."""
    try:
        return engine.module("formatting").format_many
    except (ImportError, AttributeError):
        return None
