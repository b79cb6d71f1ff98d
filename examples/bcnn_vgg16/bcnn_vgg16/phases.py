"""Training phases: which parameters train, and the optimizer and learning-rate schedule of each.

A phase comes from configs/default.yaml: {"name": ..., "epochs": ..., "trainable": "all" or a list
of module names, "frozen": [...], "optimizer": {...}, "schedule": {...}}. The optimizers (sgd) and
schedules (plateau) here are those the blueprint names.
"""

import torch
from torch import nn


def set_trainable(model: nn.Module, phase: dict) -> list[nn.Parameter]:
    """Freeze what the phase does not train (no gradients, no optimizer state); return the rest."""
    params = []
    for name, param in model.named_parameters():
        param.requires_grad_(trains(name, phase))
        if param.requires_grad:
            params.append(param)
    if not params:
        raise SystemExit(f"phase {phase['name']} trains nothing: check trainable and frozen")
    return params


def trains(name: str, phase: dict) -> bool:
    """Whether the module or parameter `name` trains in `phase`."""

    def inside(prefixes: list[str]) -> bool:
        return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)

    return (
        inside(phase["trainable"]) if phase["trainable"] != "all" else not inside(phase["frozen"])
    )


def freeze_norm_statistics(model: nn.Module, phase: dict) -> None:
    """Batch norm layers in frozen modules keep their running statistics (call after train())."""
    for name, module in model.named_modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and not trains(name, phase):
            module.eval()


def make_optimizer(
    params: list[nn.Parameter], settings: dict, device: torch.device
) -> torch.optim.Optimizer:
    """The phase's optimizer; on a GPU, its fused kernels."""
    name, decay, cuda = settings["name"], settings["weight_decay"], device.type == "cuda"
    lr = settings["lr"]
    if name == "sgd":
        return torch.optim.SGD(
            params,
            lr,
            momentum=settings["momentum"],
            nesterov=settings["nesterov"],
            weight_decay=decay,
            fused=cuda or None,
        )
    raise SystemExit(f"optimizer {name!r} in the config: this project knows sgd")


def make_schedule(optimizer: torch.optim.Optimizer, settings: dict, epochs: int):
    """The phase's learning-rate schedule, stepped once per epoch (plateau: with the metric it
    watches)."""
    name, lr = settings["name"], torch.optim.lr_scheduler
    if name == "plateau":
        mode = "max" if settings["metric"] == "val_acc" else "min"
        factor, patience, min_lr = settings["factor"], settings["patience"], settings["min_lr"]
        return lr.ReduceLROnPlateau(optimizer, mode, factor, patience, min_lr=min_lr)
    raise SystemExit(f"schedule {name!r} in the config: this project knows plateau")
