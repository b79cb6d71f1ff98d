"""The Jinja extensions that copier loads while rendering the project template.

`ScaffoldContext` puts the checked `Project` in every template's context, once per render, with
every value ready to print: `p` (the project) and `x` (its pieces: what the blueprint switches on),
for file names (`{% if "export" in x.features %}export.py{% endif %}.jinja`) and bodies alike. Templates only
print. `ScaffoldExtension` gives the `black` filter and what rendered the project
(`scaffold_version`, `black_version`, recorded in the answers file). Formatting inside rendering
(not in a task) means an old and a new render of a project are formatted the same way, so
`copier update` merges them cleanly.

copier loads this class through scaffold/copier_extension.py, from the template version it
renders. Template versions from before that named `scaffold.jinja_ext.ScaffoldExtension`
directly; this module keeps that name so that their projects still update.
"""

from __future__ import annotations

import json
import sys
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from types import ModuleType

from copier_template_extensions import ContextHook
from jinja2 import Environment
from jinja2.ext import Extension

from . import __version__
from .blueprint import blueprint_from_data
from .formatting import black_mode, format_python
from .project import Project

__all__ = [
    "ScaffoldContext",
    "ScaffoldExtension",
    "black_mode",
    "format_python",
    "scaffold_project",
]


# Projects built in this process, shared by every engine in it: a module that is no engine's. A
# `copier update` loads a template version's engine once per clone it renders from (each under a
# name of its own), so an engine looks up what an engine with the same files built.
_SHARED = "_scaffold_projects"
_KEEP = 8  # the projects kept: an update renders two versions, `update --blueprint` two blueprints


def _key(blueprint: dict) -> str:
    # in the blueprint's own order, which the answers file keeps for `update` and `check`: a
    # defined block's parameters are printed in it
    return json.dumps(blueprint, default=str)


def _shared() -> dict:
    module = sys.modules.get(_SHARED)
    if module is None:
        module = sys.modules[_SHARED] = ModuleType(_SHARED, "scaffold's projects, by engine")
        module.projects = {}
    return module.projects


@cache
def _identity() -> str:
    """What a Project of this engine depends on besides its blueprint and package: the engine's
    files, and its template's own block files. Engines equal in both build equal projects."""
    from .blocks.registry import template_blocks_dir
    from .copier_extension import fingerprint

    blocks = template_blocks_dir()
    return fingerprint(Path(__file__).resolve().parent) + (fingerprint(blocks) if blocks else "")


def _share(project: Project, blueprint_json: str) -> Project:
    projects = _shared()
    projects[_identity(), blueprint_json, project.package] = project
    while len(projects) > _KEEP:
        del projects[next(iter(projects))]
    return project


def remember(project: Project) -> None:
    """The project the command line built from a blueprint file: a render of the same answers
    (the same data, in the same order) by this engine, or by another with the same files, uses
    it instead of reading and planning it again."""
    _share(project, _key(project.blueprint.raw))


def _project(blueprint_json: str, package: str) -> Project:
    known = _shared().get((_identity(), blueprint_json, package))
    if known is not None:
        return known
    project = Project(package, blueprint_from_data(json.loads(blueprint_json)))
    return _share(project, blueprint_json)


def scaffold_project(blueprint: dict, package_name: str) -> Project:
    """The project for a blueprint given as plain data (copier's answer). (Template versions
    from before `ScaffoldContext` call it themselves.)"""
    return _project(_key(blueprint), package_name)


@cache
def black_version() -> str:
    try:
        return version("black")
    except PackageNotFoundError:
        return ""


class ScaffoldExtension(Extension):
    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.filters["black"] = format_python
        environment.globals["scaffold_project"] = scaffold_project
        environment.globals["scaffold_version"] = __version__
        environment.globals["black_version"] = black_version()


class ScaffoldContext(ContextHook):
    """`p` and `x` in the context of every template copier renders, file names included: the
    project of the answers' blueprint, built once per render (one blueprint, one Project)."""

    def hook(self, context: dict) -> None:
        if "blueprint" in context and "package_name" in context:
            project = scaffold_project(context["blueprint"], context["package_name"])
            context["p"] = project
            context["x"] = project.pieces
