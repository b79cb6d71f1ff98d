"""Training phases: the optimizer and learning-rate schedule of each.

A phase comes from configs/default.yaml: {"name": ..., "epochs": ..., "trainable": "all" or a list
of module names, "frozen": [...], "optimizer": {...}, "schedule": {...}}. The optimizers (sgd) and
schedules (cosine) here are those the blueprint names.
"""

import torch
from torch import nn


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
    """The phase's learning-rate schedule, stepped once per epoch."""
    name, lr = settings["name"], torch.optim.lr_scheduler
    if name == "cosine":
        return lr.CosineAnnealingLR(optimizer, T_max=epochs, eta_min=settings["min_lr"])
    raise SystemExit(f"schedule {name!r} in the config: this project knows cosine")
