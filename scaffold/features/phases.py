"""Training phases that train only some modules (B-CNN's two steps, fine-tuning a head first):
train.py's loop over the phases, each with its trainable parameters, optimizer and schedule, the
batch norm statistics of frozen modules kept, and a checkpoint's phase. The blueprint's
`train.phases` switches it on when there is more than one phase or one trains only some modules;
the field itself stays with `train` (blueprint.py: every project's recipe is its phases'). Its
code, phases.py's set_trainable and freeze_norm_statistics too:
templates/_partials/features/phases.py.jinja."""

from __future__ import annotations

from . import Feature


class Phases(Feature):
    name = "phases"
    order = 25  # its column first in the epoch's row, and its imports first

    def on(self, train) -> bool:
        phases = train.phases or []
        return len(phases) > 1 or any(p.trainable != "all" or p.frozen for p in phases)


UNIT = Phases()
