"""The optimizer and learning-rate schedule of training (configs/default.yaml's train), among those
the blueprint names."""

import warnings

import torch
from torch import nn

from . import Refused

# the normalisation layers whose weights and biases get no weight decay (torchvision's norm_classes)
NORMS = (
    nn.modules.batchnorm._BatchNorm,
    nn.modules.instancenorm._InstanceNorm,
    nn.GroupNorm,
    nn.LayerNorm,
)


def weight_decay_groups(
    model: nn.Module, params: list[nn.Parameter], kinds: list[str]
) -> list[dict]:
    """`params` as two optimizer groups: with the optimizer's weight decay, and without it. `kinds`
    (configs/default.yaml's train.no_weight_decay) lists what decays not: "norm", the weights and
    biases of normalisation layers; "bias", every bias; as timm and torchvision do."""
    exempt = set()
    for module in model.modules():
        for name, param in module.named_parameters(recurse=False):
            if ("norm" in kinds and isinstance(module, NORMS)) or (
                "bias" in kinds and name == "bias"
            ):
                exempt.add(id(param))
    decay = [param for param in params if id(param) not in exempt]
    no_decay = [param for param in params if id(param) in exempt]
    return [{"params": decay}, {"params": no_decay, "weight_decay": 0.0}]


def make_optimizer(params, settings: dict, device) -> torch.optim.Optimizer:
    """The optimizer; on a GPU, its fused kernels."""
    name, lr, decay = settings["name"], settings["lr"], settings["weight_decay"]
    fused = device.type == "cuda" or None
    if name == "adamw":
        kind = torch.optim.AdamW
        options = {"betas": tuple(settings["betas"]), "eps": settings["eps"]}
        return kind(params, lr, weight_decay=decay, fused=fused, **options)
    raise Refused(f"optimizer {name!r} in the config: this project knows adamw")


def make_schedule(optimizer: torch.optim.Optimizer, settings: dict, epochs: int, steps: int):
    """The learning-rate schedule, stepped after every optimizer step (`steps` an epoch):
    its epochs (warm-up, step size, milestones) counted in optimizer steps."""
    name, lr = settings["name"], torch.optim.lr_scheduler
    if name not in ["cosine"]:
        raise Refused(f"schedule {name!r} in the config: this project knows cosine")
    # 1 or more where the config has a warm-up: a resume with more epochs builds the same schedule
    warmup = min(settings["warmup_epochs"] * steps, max(epochs * steps - 1, 1))
    if name == "cosine":
        main = lr.CosineAnnealingLR(
            optimizer, T_max=max(1, epochs * steps - warmup), eta_min=settings["min_lr"]
        )
    if not warmup:
        return main
    start = settings["warmup_factor"] or 1 / (warmup + 1)  # the first step's share of the rate
    ramp = lr.LinearLR(optimizer, start_factor=start, total_iters=warmup)
    return lr.SequentialLR(optimizer, [ramp, main], milestones=[warmup])


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
