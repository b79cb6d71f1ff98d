"""The Jinja extension that copier loads while rendering the project template.

It gives the templates `scaffold_project(blueprint, package_name)`, the checked `Project` with
every value ready to print, the `black` filter, and what rendered the project
(`scaffold_version`, `black_version`, recorded in the answers file). Formatting inside rendering
(not in a task) means an old and a new render of a project are formatted the same way, so
`copier update` merges them cleanly.

copier loads this class through scaffold/copier_extension.py, from the template version it
renders. Template versions from before that named `scaffold.jinja_ext.ScaffoldExtension`
directly; this module keeps that name so that their projects still update.
"""

from __future__ import annotations

import json
from functools import cache, lru_cache
from importlib.metadata import PackageNotFoundError, version

from jinja2 import Environment
from jinja2.ext import Extension

from . import __version__
from .blueprint import blueprint_from_data
from .formatting import black_mode, format_python
from .project import Project

__all__ = ["ScaffoldExtension", "black_mode", "format_python", "scaffold_project"]


@lru_cache(maxsize=16)
def _project(blueprint_json: str, package: str) -> Project:
    return Project(package, blueprint_from_data(json.loads(blueprint_json)))


def scaffold_project(blueprint: dict, package_name: str) -> Project:
    """The project for a blueprint given as plain data (copier's answer)."""
    return _project(json.dumps(blueprint, sort_keys=True, default=str), package_name)


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
