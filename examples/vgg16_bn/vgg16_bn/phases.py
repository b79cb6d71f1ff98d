"""The optimizer and learning-rate schedule of training (configs/default.yaml's train), among those
the blueprint names."""

import warnings

import torch

from . import Refused


def make_optimizer(params, settings: dict, device) -> torch.optim.Optimizer:
    """The optimizer; on a GPU, its fused kernels."""
    name, lr, decay = settings["name"], settings["lr"], settings["weight_decay"]
    fused = device.type == "cuda" or None
    if name == "sgd":
        options = {"momentum": settings["momentum"], "nesterov": settings["nesterov"]}
        return torch.optim.SGD(params, lr, weight_decay=decay, fused=fused, **options)
    raise Refused(f"optimizer {name!r} in the config: this project knows sgd")


def make_schedule(optimizer: torch.optim.Optimizer, settings: dict, epochs: int):
    """The learning-rate schedule, stepped once per epoch."""
    name, lr = settings["name"], torch.optim.lr_scheduler
    if name == "step":
        return lr.StepLR(optimizer, step_size=settings["step_size"], gamma=settings["gamma"])
    raise Refused(f"schedule {name!r} in the config: this project knows step")


def resume_schedule(schedule, saved: dict) -> None:
    """A resumed run's schedule (its state `saved`) continued: `schedule`, built for this run's
    length, steps as often as the resumed one had, so a run resumed with more epochs goes on as if
    it had started with them. Call it after loading the optimizer's state, whose learning rates it
    replaces."""
    for group, rate in zip(schedule.optimizer.param_groups, schedule.get_last_lr()):
        group["lr"] = rate  # the rate the new schedule starts from
    with warnings.catch_warnings():  # torch warns of schedule steps without optimizer steps
        warnings.simplefilter("ignore", UserWarning)
        for _ in range(saved["last_epoch"]):
            schedule.step()
