"""The schedule's warm-up: the learning rate rises linearly over a schedule's first
`warmup_epochs` (counted in optimizer steps with `interval: step`), from `warmup_factor` x the
rate (torchvision's --lr-warmup-decay) or 1 / (warm-up steps + 1) (nanoGPT's), then the schedule
runs (torch's LinearLR and SequentialLR). Its fields are every schedule's, train's and the
phases'. Its code: templates/_partials/features/warmup.py.jinja, in phases.py's make_schedule."""

from __future__ import annotations

from ..spec import Float, Int, spec_field
from . import Feature

EPOCHS, FACTOR = "warmup_epochs", "warmup_factor"


def used_schedules(train) -> list:
    """The schedule each phase runs (a phase's own, else train's; None: constant)."""
    return [getattr(phase, "schedule", None) or train.schedule for phase in train.phases or [None]]


class Warmup(Feature):
    name = "warmup"
    order = 905
    schedule_fields = {
        EPOCHS: spec_field(Int(min=0), None, "linear warm-up epochs"),
        FACTOR: spec_field(
            Float(above=0, max=1),
            None,
            "the learning rate's factor at the warm-up's first step, rising linearly to 1 "
            "(torchvision's --lr-warmup-decay, e.g. 0.01); default 1 / (warm-up steps + 1), "
            "nanoGPT's",
        ),
    }
    nullable = {FACTOR: "float"}

    def check(self, bp, problems) -> None:
        for path, schedule in bp.train.schedules():
            if schedule.warmup_factor is not None and not schedule.warmup_epochs:
                problems.add(
                    schedule.key_locations.get(FACTOR, schedule.location),
                    f"{path}.{FACTOR}",
                    f"{FACTOR} is where a warm-up starts, but this schedule has no warm-up",
                    f"add `{EPOCHS}`, or remove {FACTOR}",
                )

    def on(self, train) -> bool:
        return any(s is not None and s.warmup_epochs for s in used_schedules(train))

    def factor(self, train) -> bool:
        """Whether a schedule states the factor its warm-up starts from."""
        return any(s.warmup_factor is not None for _, s in train.schedules())

    def phases_config(self, bp, phases: list[dict]) -> None:
        factor = self.factor(bp.train)
        for phase, given in zip(phases, used_schedules(bp.train)):
            schedule = phase["schedule"]
            if schedule["name"] == "plateau":
                continue
            if given is not None and given.warmup_factor is not None:  # after the schedule's own
                head = {
                    k: v for k, v in schedule.items() if k in ("name", "step_size", "milestones")
                }
                schedule = head | {FACTOR: given.warmup_factor} | schedule
            schedule[EPOCHS] = (given.warmup_epochs if given is not None else None) or 0
            if factor:  # the code reads it in every schedule with a warm-up
                schedule.setdefault(FACTOR, None)
            phase["schedule"] = schedule

    def schedule_reads(self, project, name: str) -> set[str]:
        if name == "plateau":
            return set()
        return {EPOCHS, FACTOR} if self.factor(project.blueprint.train) else {EPOCHS}

    def values(self, project) -> dict:
        return {"factor": self.factor(project.blueprint.train)}

    def setting_check(self, path: str, value):
        name = path.rpartition(".")[2]
        if ".schedule." in path and name == EPOCHS:
            return "probe", ("schedule", 2 if value != 2 else 3)
        if ".schedule." in path and name == FACTOR:
            return "probe", ("schedule", 0.5 if value != 0.5 else 0.25)
        return None

    def readme(self, project) -> str | None:
        if not self.factor(project.blueprint.train):
            return None
        return (
            f"**Warm-up from a stated factor**: the warm-up starts at `{FACTOR}` x the "
            "learning rate and rises linearly to it."
        )


UNIT = Warmup()
