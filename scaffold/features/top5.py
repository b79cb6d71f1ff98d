"""Top-5 accuracy: the share of validation samples whose label is among the model's five highest
scores (`val_top5` in metrics.csv, and `evaluate`'s report), in a project of more than five
classes (or answers); the blueprint switches it on by its classes, with no field of its own. Its
code: templates/_partials/features/top5.py.jinja, in train.py's evaluate and evaluate.py."""

from __future__ import annotations

from . import Feature


class TopFive(Feature):
    name = "top5"
    order = 55  # its metrics.csv column first, as its key comes first in the epoch's row

    def on_blueprint(self, bp) -> bool:
        return bp.num_classes > 5

    def metrics(self, project) -> list[str]:
        return ["val_top5"]

    def readme(self, project) -> str:
        return (
            "**Top-5 accuracy** on the validation split (`val_top5` in metrics.csv): the "
            "label is among the five highest scores."
        )


UNIT = TopFive()
