"""The optimizer and learning-rate schedule of training (configs/default.yaml's train), among those
the blueprint names."""

import torch


def make_optimizer(params, settings: dict, device) -> torch.optim.Optimizer:
    """The optimizer; on a GPU, its fused kernels."""
    name, lr, decay = settings["name"], settings["lr"], settings["weight_decay"]
    fused = device.type == "cuda" or None
    if name == "sgd":
        options = {"momentum": settings["momentum"], "nesterov": settings["nesterov"]}
        return torch.optim.SGD(params, lr, weight_decay=decay, fused=fused, **options)
    raise SystemExit(f"optimizer {name!r} in the config: this project knows sgd")


def make_schedule(optimizer: torch.optim.Optimizer, settings: dict, epochs: int):
    """The learning-rate schedule, stepped once per epoch."""
    name, lr = settings["name"], torch.optim.lr_scheduler
    if name == "cosine":
        return lr.CosineAnnealingLR(optimizer, T_max=epochs, eta_min=settings["min_lr"])
    raise SystemExit(f"schedule {name!r} in the config: this project knows cosine")
