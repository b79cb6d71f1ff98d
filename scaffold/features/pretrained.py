"""Pretrained weights: a model the blueprint builds from torchvision's starts from its weights
(or a local file's, `--weights`; `--no-pretrained` starts from random ones); the model's plan
decides, with no training field of its own. Its code: templates/_partials/features/pretrained.py.jinja
(model.py's load_pretrained is the plan's)."""

from __future__ import annotations

from . import Feature


class Pretrained(Feature):
    name = "pretrained"
    order = 1200  # its flags after --download

    def on_blueprint(self, bp) -> bool:
        return False  # the model's plan decides (on_project)

    def on_project(self, project) -> bool:
        return bool(project.plan.pretrained)


UNIT = Pretrained()
