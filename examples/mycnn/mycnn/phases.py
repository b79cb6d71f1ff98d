"""Training phases: which parameters train, with which optimizer and learning-rate schedule.

A phase comes from configs/default.yaml, e.g. {"name": ..., "epochs": ..., "trainable": "all" or
a list of module names, "frozen": [...], "optimizer": {...}, "schedule": {...}}.
"""

import torch
from torch import nn


def set_trainable(model: nn.Module, phase: dict) -> list[nn.Parameter]:
    """Freeze what the phase does not train (no gradients, no optimizer state); return the rest."""
    trainable, frozen = phase["trainable"], phase["frozen"]

    def inside(name: str, prefixes: list[str]) -> bool:
        return any(
            name == prefix or name.startswith(prefix + ".") for prefix in prefixes
        )

    params = []
    for name, param in model.named_parameters():
        trains = (
            inside(name, trainable) if trainable != "all" else not inside(name, frozen)
        )
        param.requires_grad_(trains)
        if trains:
            params.append(param)
    if not params:
        raise SystemExit(
            f"phase {phase['name']} trains nothing: check trainable and frozen"
        )
    return params


def freeze_norm_statistics(model: nn.Module) -> None:
    """Batch norm layers with frozen parameters keep their running statistics frozen too."""
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            if not any(param.requires_grad for param in module.parameters()):
                module.eval()


def make_optimizer(
    params: list[nn.Parameter],
    settings: dict,
    device: torch.device,
    graph: bool = False,
) -> torch.optim.Optimizer:
    """The phase's optimizer. On a GPU its fused kernels; a CUDA graph also needs the learning
    rate as a tensor, which the schedule then updates in place."""
    name = settings["name"]
    fused = {"fused": True} if device.type == "cuda" else {}
    lr = torch.tensor(settings["lr"], device=device) if graph else settings["lr"]
    decay = settings["weight_decay"]
    if name == "sgd":
        return torch.optim.SGD(
            params,
            lr=lr,
            momentum=settings["momentum"],
            nesterov=settings["nesterov"],
            weight_decay=decay,
            **fused,
        )
    if name in ("adam", "adamw"):
        cls = torch.optim.Adam if name == "adam" else torch.optim.AdamW
        betas = tuple(settings["betas"])
        return cls(
            params, lr=lr, betas=betas, eps=settings["eps"], weight_decay=decay, **fused
        )
    if name == "rmsprop":
        if graph:
            raise SystemExit(
                "--cuda-graph: use sgd, adam or adamw (rmsprop has no fused kernel)"
            )
        return torch.optim.RMSprop(
            params,
            lr=lr,
            alpha=settings["alpha"],
            eps=settings["eps"],
            momentum=settings["momentum"],
            weight_decay=decay,
            foreach=device.type == "cuda" or None,
        )
    raise SystemExit(f"unknown optimizer {name!r} in the config")


def make_schedule(optimizer: torch.optim.Optimizer, settings: dict, epochs: int):
    """A learning-rate schedule stepped once per epoch (plateau: with the watched metric)."""
    name, lr = settings["name"], torch.optim.lr_scheduler
    if name == "plateau":
        return lr.ReduceLROnPlateau(
            optimizer,
            mode="max" if settings["metric"] == "val_acc" else "min",
            factor=settings["factor"],
            patience=settings["patience"],
            min_lr=settings["min_lr"],
        )
    warmup = min(settings.get("warmup_epochs", 0), max(epochs - 1, 0))
    if name == "cosine":
        main = lr.CosineAnnealingLR(
            optimizer, T_max=max(1, epochs - warmup), eta_min=settings["min_lr"]
        )
    elif name == "step":
        main = lr.StepLR(
            optimizer, step_size=settings["step_size"], gamma=settings["gamma"]
        )
    elif name == "multistep":
        main = lr.MultiStepLR(
            optimizer, milestones=settings["milestones"], gamma=settings["gamma"]
        )
    else:
        main = lr.LambdaLR(optimizer, lambda epoch: 1.0)
    if not warmup:
        return main
    ramp = lr.LinearLR(optimizer, start_factor=1 / (warmup + 1), total_iters=warmup)
    return lr.SequentialLR(optimizer, [ramp, main], milestones=[warmup])
