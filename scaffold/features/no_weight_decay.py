"""No weight decay on normalisation layers and/or biases: a second optimizer group with weight
decay 0 (timm's and torchvision's rule, nanoGPT's too). Its code:
templates/_partials/features/no_weight_decay.py.jinja (phases.py's weight_decay_groups, and
train.py's use of it)."""

from __future__ import annotations

from ..spec import Enum, ListOf, spec_field
from . import Feature

KINDS = ("norm", "bias")


class NoWeightDecay(Feature):
    name = "no_weight_decay"
    order = 300
    fields = {
        "no_weight_decay": spec_field(
            ListOf(Enum(*KINDS)),
            [],
            "parameters without weight decay: norm (the weights and biases of batch, group and "
            "layer norms, torchvision's --norm-weight-decay 0), bias (every bias); [norm, bias] is "
            "timm's and nanoGPT's rule",
            annotation=list[str],
        )
    }

    def listed(self, train) -> tuple[str, ...]:
        """The kinds of parameter without weight decay, each once, in KINDS' order."""
        return tuple(kind for kind in KINDS if kind in train.no_weight_decay)

    def on(self, train) -> bool:
        return bool(train.no_weight_decay)

    def check(self, bp, problems) -> None:
        train = bp.train
        where = train.key_locations.get("no_weight_decay", train.location)
        optimizers = [train.optimizer] + [
            p.optimizer for p in train.phases or [] if p.optimizer is not None
        ]
        decays = [optimizer.weight_decay for optimizer in optimizers]
        names = {optimizer.name for optimizer in optimizers}
        if train.no_weight_decay and not any(decays) and "adamw" not in names:
            problems.add(
                where,
                "train.no_weight_decay",
                "the optimizer has no weight decay, so there is none to leave out",
                "give the optimizer a `weight_decay`, or remove no_weight_decay",
            )
        twice = sorted(
            {kind for kind in train.no_weight_decay if train.no_weight_decay.count(kind) > 1}
        )
        if twice:
            problems.add(
                where,
                "train.no_weight_decay",
                f"{twice[0]} is listed twice",
                "list each kind of parameter once",
            )

    def check_plan(self, bp, rows, problems) -> None:
        """`norm` acts on every normalisation layer (torchvision's norm_classes): the model must
        have some."""
        train = bp.train
        norms = ("batch norm", "layer norm", "group norm")
        if "norm" in train.no_weight_decay and not any(row.kind.startswith(norms) for row in rows):
            problems.add(
                train.key_locations.get("no_weight_decay", train.location),
                "train.no_weight_decay",
                "the model has no normalisation layers, so `norm` leaves nothing out",
                "write `[bias]`, or remove no_weight_decay",
            )

    def config(self, train) -> dict:
        return {"no_weight_decay": list(self.listed(train))}

    def choices(self, train) -> dict:
        return {"train.no_weight_decay[]": self.listed(train)}

    def setting_check(self, path: str, value):
        return ("probe", ("weight_decay", [])) if path == "train.no_weight_decay" else None

    def values(self, project) -> dict:
        listed = self.listed(project.blueprint.train)
        return {"norm": "norm" in listed, "bias": "bias" in listed}

    def readme(self, project) -> str:
        kinds = {"norm": "the weights and biases of normalisation layers", "bias": "every bias"}
        left_out = " and ".join(kinds[kind] for kind in self.listed(project.blueprint.train))
        return (
            f"**No weight decay** on {left_out} (`train.no_weight_decay`): a second "
            "parameter group with weight decay 0, as timm and torchvision do."
        )


UNIT = NoWeightDecay()
