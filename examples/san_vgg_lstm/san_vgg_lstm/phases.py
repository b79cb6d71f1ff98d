"""Training phases (configs/default.yaml's train.phases): which parameters train, and the optimizer
and learning-rate schedule of each, among those the blueprint names."""

import warnings

import torch
from torch import nn

from . import Refused


def set_trainable(model: nn.Module, phase: dict) -> list[nn.Parameter]:
    """Freeze what the phase does not train (no gradients, no optimizer state); return the rest."""
    for name, param in model.named_parameters():
        param.requires_grad_(trains(name, phase))
    params = [param for param in model.parameters() if param.requires_grad]
    if not params:
        raise Refused(f"phase {phase['name']} trains nothing: check trainable and frozen")
    return params


def trains(name: str, phase: dict) -> bool:
    """Whether the module or parameter `name` trains in `phase`."""
    if phase["trainable"] == "all":  # (a phase that names what trains has no frozen list)
        return not any(name == p or name.startswith(p + ".") for p in phase.get("frozen", ()))
    return any(name == p or name.startswith(p + ".") for p in phase["trainable"])


def freeze_norm_statistics(model: nn.Module, phase: dict) -> None:
    """Batch norm layers in frozen modules keep their running statistics (call after train())."""
    for name, module in model.named_modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and not trains(name, phase):
            module.eval()


def make_optimizer(params, settings: dict, device) -> torch.optim.Optimizer:
    """The phase's optimizer; on a GPU, its fused kernels."""
    name, lr, decay = settings["name"], settings["lr"], settings["weight_decay"]
    fused = device.type == "cuda" or None
    if name == "rmsprop":
        options = {
            "alpha": settings["alpha"],
            "eps": settings["eps"],
            "momentum": settings["momentum"],
        }
        return torch.optim.RMSprop(params, lr, weight_decay=decay, foreach=fused, **options)
    raise Refused(f"optimizer {name!r} in the config: this project knows rmsprop")


def make_schedule(optimizer: torch.optim.Optimizer, settings: dict, epochs: int):
    """The phase's learning-rate schedule, stepped once per epoch."""
    name, lr = settings["name"], torch.optim.lr_scheduler
    if name == "constant":
        return lr.LambdaLR(optimizer, lambda epoch: 1.0)
    raise Refused(f"schedule {name!r} in the config: this project knows constant")


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
