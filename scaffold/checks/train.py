"""Checks of how the model trains: epochs or phases, each optimizer's and schedule's settings,
the phases' names and trainable modules, the CUDA-graph step, the schedules' one interval, and
each training feature's own checks (scaffold/features/, a unit's `check`). The phases' module
names need the model's plan: scaffold/plan.py checks them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..features import FEATURES, check_steps
from ..spec import location_of, section_fields

if TYPE_CHECKING:
    from ..blueprint import Blueprint, Optimizer, Schedule
    from ..errors import ProblemCollector


def check_train(bp: Blueprint, problems: ProblemCollector) -> None:
    """The recipe's own checks, then each training feature's, then the schedules' interval."""
    train = bp.train
    if train.phases is None and train.epochs is None:
        problems.add(
            train.location,
            "train.epochs",
            "missing required key 'epochs' in train",
            "e.g. `epochs: 10`",
        )
    if train.phases is not None and train.epochs is not None:
        problems.add(
            location_of(train, "epochs"),
            "train.epochs",
            "give either `epochs` or `phases` (each phase has its own epochs), not both",
        )
    _check_optimizer(train.optimizer, "train.optimizer", problems, require=True)
    if train.schedule is not None:
        _check_schedule(train.schedule, "train.schedule", problems)
    for i, phase in enumerate(train.phases or []):
        path = f"train.phases[{i}]"
        if phase.optimizer is not None:
            _check_optimizer(phase.optimizer, f"{path}.optimizer", problems, require=False)
        if phase.schedule is not None:
            _check_schedule(phase.schedule, f"{path}.schedule", problems)
        if phase.trainable != "all" and phase.frozen:
            problems.add(
                location_of(phase, "frozen"),
                f"{path}.frozen",
                "give either `trainable: [...]` or `frozen: [...]`, not both",
            )
    names = [p.name for p in train.phases or [] if p.name]
    for name in {n for n in names if names.count(n) > 1}:
        problems.add(train.location, "train.phases", f"two phases are named '{name}'")
    for unit in FEATURES:
        unit.check(bp, problems)
    check_steps(bp, problems)
    _check_intervals(bp, problems)


def _check_intervals(bp: Blueprint, problems: ProblemCollector) -> None:
    """The schedules of one blueprint move at one interval: once an epoch, or every step."""
    schedules = bp.train.schedules()
    stepped = [path for path, schedule in schedules if bp.schedule_interval(schedule) == "step"]
    for path, schedule in schedules if stepped else ():
        if schedule.name == "plateau":
            problems.add(
                schedule.location,
                f"{path}.name",
                "the plateau schedule waits for the validation metric, once an epoch; "
                f"{stepped[0]} moves every optimizer step",
                "use a cosine, step, multistep or constant schedule with `interval: step`",
            )
        elif bp.schedule_interval(schedule) != "step":
            problems.add(
                location_of(schedule, "interval"),
                f"{path}.interval",
                f"{stepped[0]} moves every optimizer step; the schedules of one blueprint move at "
                "one interval",
                "write `interval: step` here too",
            )


def _check_optimizer(opt: Optimizer, path: str, problems: ProblemCollector, require: bool) -> None:
    if opt.name is None:
        problems.add(
            opt.location,
            f"{path}.name",
            "missing required key 'name'",
            "sgd, adam, adamw or rmsprop",
        )
        return
    if require and opt.lr is None:
        problems.add(opt.location, f"{path}.lr", "missing required key 'lr'", "e.g. `lr: 0.01`")
    allowed = opt.options
    for key in ("momentum", "nesterov", "weight_decay", "betas", "alpha", "eps"):
        if getattr(opt, key) is not None and key not in allowed:
            problems.add(
                location_of(opt, key),
                f"{path}.{key}",
                f"{key} is not a setting of {opt.name}",
                f"{opt.name} takes " + ", ".join(allowed),
            )
    if opt.nesterov and not opt.momentum and opt.name == "sgd":
        problems.add(
            location_of(opt, "nesterov"), f"{path}.nesterov", "Nesterov momentum needs momentum > 0"
        )


def _check_schedule(schedule: Schedule, path: str, problems: ProblemCollector) -> None:
    allowed = schedule.options
    for key in section_fields(type(schedule)):  # its settings: what a schedule of `name` takes
        if key != "name" and getattr(schedule, key) is not None and key not in allowed:
            problems.add(
                location_of(schedule, key),
                f"{path}.{key}",
                f"{key} is not a setting of the {schedule.name} schedule",
                f"{schedule.name} takes " + ", ".join(allowed),
            )
    if schedule.name == "step" and schedule.step_size is None:
        problems.add(schedule.location, f"{path}.step_size", "the step schedule needs `step_size`")
    if schedule.name == "multistep" and schedule.milestones is None:
        problems.add(
            schedule.location, f"{path}.milestones", "the multistep schedule needs `milestones`"
        )
    if schedule.milestones and sorted(schedule.milestones) != schedule.milestones:
        problems.add(
            location_of(schedule, "milestones"), f"{path}.milestones", "milestones must increase"
        )
