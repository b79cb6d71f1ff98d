"""The Jinja extension that copier loads while rendering the project template.

It gives the templates two things: `scaffold_project(blueprint, package_name)`, the checked
`Project` with every value ready to print, and the `black` filter. Formatting inside rendering
(not in a task) means an old and a new render of a project are formatted the same way, so
`copier update` merges them cleanly.
"""

from __future__ import annotations

import json
from functools import lru_cache

from jinja2 import Environment
from jinja2.ext import Extension

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


class ScaffoldExtension(Extension):
    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.filters["black"] = format_python
        environment.globals["scaffold_project"] = scaffold_project
