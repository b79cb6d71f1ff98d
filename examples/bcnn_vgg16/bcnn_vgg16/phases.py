"""Training phases (configs/default.yaml's train.phases): which parameters train, and the optimizer
and learning-rate schedule of each, among those the blueprint names."""

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
    if name == "sgd":
        options = {"momentum": settings["momentum"], "nesterov": settings["nesterov"]}
        return torch.optim.SGD(params, lr, weight_decay=decay, fused=fused, **options)
    raise Refused(f"optimizer {name!r} in the config: this project knows sgd")


def make_schedule(optimizer: torch.optim.Optimizer, settings: dict, epochs: int):
    """The phase's learning-rate schedule, stepped once per epoch (plateau: with its metric)."""
    name, lr = settings["name"], torch.optim.lr_scheduler
    if name == "plateau":
        mode = "max" if settings["metric"] == "val_acc" else "min"
        factor, patience, min_lr = settings["factor"], settings["patience"], settings["min_lr"]
        return lr.ReduceLROnPlateau(optimizer, mode, factor, patience, min_lr=min_lr)
    raise Refused(f"schedule {name!r} in the config: this project knows plateau")


def resume_schedule(schedule, saved: dict) -> None:
    """The resumed run's schedule state, into `schedule`: the plateau schedule counts no epochs,
    so a resume with more epochs goes on as it would have."""
    schedule.load_state_dict(saved)
