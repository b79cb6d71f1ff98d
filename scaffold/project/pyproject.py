"""pyproject.toml's values: the description as a TOML string, and what the training features'
code needs installed."""

from __future__ import annotations

from .part import Part
from .text import toml_string


class PyProject(Part):
    """pyproject.toml's values (`p.pyproject`)."""

    @property
    def description(self) -> str:
        """The description as a TOML basic string."""
        blueprint = self.project.blueprint
        return toml_string(blueprint.description or blueprint.name)

    @property
    def feature_dependencies(self) -> list[str]:
        """What the training features' code needs installed."""
        return [req for unit in self.features for req in unit.dependencies]

    @property
    def extras(self) -> dict[str, list[str]]:
        """The optional dependencies of the training features, by extra."""
        features = self.features
        return {name: deps for unit in features for name, deps in unit.extras(self.project).items()}
