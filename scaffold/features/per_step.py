"""A per-step schedule: the learning-rate schedules move after every optimizer step (`interval:
step`), their epochs counted in optimizer steps, instead of once an epoch. No field of its own
(the schedules' `interval` decides). Its code: templates/_partials/features/per_step.py.jinja."""

from __future__ import annotations

from . import Feature


class PerStep(Feature):
    name = "per_step"
    order = 80  # after an optimizer step, the schedule steps before the training features' code

    def on_blueprint(self, bp) -> bool:
        train = bp.train
        schedules = [train.schedule, *(phase.schedule for phase in train.phases or [])]
        base = train.schedule.interval if train.schedule is not None else None
        return any(  # the plateau schedule waits for the epoch's metric, whatever its interval
            schedule.name != "plateau" and (schedule.interval or base) == "step"
            for schedule in schedules
            if schedule is not None
        )


UNIT = PerStep()
