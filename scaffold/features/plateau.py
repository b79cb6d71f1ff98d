"""The plateau schedule (ReduceLROnPlateau): it lowers the rate when the validation metric stops
improving, so it steps once an epoch with that metric, and its state holds the rates it has
reached: a resume keeps them (`--lr` is refused). On where a schedule of the recipe is `plateau`;
its settings are the schedule's. Its code: templates/_partials/features/plateau.py.jinja."""

from __future__ import annotations

from . import Feature


class Plateau(Feature):
    name = "plateau"
    order = 90

    def on_blueprint(self, bp) -> bool:
        train = bp.train
        phases = train.phases or [None]  # a phase without a schedule of its own has train's
        schedules = [(phase and phase.schedule) or train.schedule for phase in phases]
        return any(schedule is not None and schedule.name == "plateau" for schedule in schedules)


UNIT = Plateau()
