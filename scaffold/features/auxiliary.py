"""The auxiliary heads' loss (GoogLeNet's aux1 and aux2, Inception v3's AuxLogits): in training
the model returns their class scores too, and the loss is the main one plus each head's times its
weight (model.py's AUX_WEIGHTS). The model's plan decides it (blocks/auxiliary.py), with no field
of its own. Its code: templates/_partials/features/auxiliary.py.jinja."""

from __future__ import annotations

from . import Feature


class AuxiliaryLoss(Feature):
    name = "auxiliary"
    order = 10  # its README item first, before the blueprint's features

    def on(self, train) -> bool:
        return False  # the blueprint's `train` alone never has it: the model's plan decides

    def on_project(self, project) -> bool:
        return bool(project.plan.auxiliary)

    def readme(self, project) -> str:
        heads = "heads" if len(project.plan.auxiliary) > 1 else "head"
        uses = (
            ", prediction and export" if "export" in project.pieces.features else " and prediction"
        )
        return (
            f"**Auxiliary classifiers**: the {heads} {project.prose.auxiliary_text} (their loss "
            "weights) give class scores of their own in training, and the loss is the main "
            "one plus each head's loss times its weight (`AUX_WEIGHTS` in model.py), under "
            "label smoothing and mixed labels alike; `train_loss` and steps.csv's `loss` are "
            f"that total. In evaluation{uses} the heads do not run: the model returns the class "
            "scores alone."
        )


UNIT = AuxiliaryLoss()
