"""The Jinja extension that copier loads while rendering the project template.

It gives the templates two things: `scaffold_project(blueprint, package_name)`, the checked
`Project` with every value ready to print, and the `black` filter. Formatting inside rendering
(not in a task) means an old and a new render of a project are formatted the same way, so
`copier update` merges them cleanly.
"""

from __future__ import annotations

import json
from functools import lru_cache

import black
from jinja2 import Environment
from jinja2.ext import Extension

from scaffold.blueprint import blueprint_from_data
from scaffold.project import Project

# Fixed: what `black --check` uses inside a generated project: black's defaults, with the target
# versions it infers from the project's `requires-python = ">=3.10"`. Changing this reformats
# every generated file, so it changes only with black's major version (pinned in pyproject.toml).
BLACK_MODE = black.Mode(
    target_versions={v for v in black.TargetVersion if v.value >= black.TargetVersion.PY310.value}
)


def format_python(source: str) -> str:
    return black.format_str(source, mode=BLACK_MODE)


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
