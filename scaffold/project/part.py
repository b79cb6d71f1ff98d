"""What every concern of a project starts from."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..features import Feature
    from . import Project
    from .pieces import Pieces


class Part:
    """One concern of `project`, its own object that the project holds: it reads the project's
    blueprint, model plan, pieces and training features, and gives the features' hooks the
    project."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.blueprint, self.plan = project.blueprint, project.plan
        self.image = project.blueprint.image  # the model's input: channels, height, width

    @property
    def pieces(self) -> Pieces:
        return self.project.pieces

    @property
    def features(self) -> tuple[Feature, ...]:
        return self.project.features
