"""Model EMA: an exponential moving average of the weights and batch-norm statistics, updated
after optimizer steps, evaluated every epoch and checkpointed (timm's ModelEmaV3, torchvision's
--model-ema). Its code: templates/_partials/features/ema.py.jinja."""

from __future__ import annotations

from ..spec import Bool, Float, Int, OneOf, Section, Struct, section, spec_field
from . import Feature

DECAY = Float(above=0, max=1)


@section
class ModelEMA(Section):
    """An exponential moving average of the weights, evaluated every epoch and checkpointed with
    them (timm's and torchvision's --model-ema)."""

    decay: float = spec_field(
        DECAY,
        0.9998,
        "how much of the average each update keeps (timm's 0.9998; torchvision's recipes give "
        "0.99998, scaled by batch size and epochs)",
    )
    every: int = spec_field(
        Int(min=1, max=1_000_000),
        1,
        "optimizer steps between updates (timm: 1; torchvision's --model-ema-steps: 32)",
    )
    warmup: bool = spec_field(
        Bool(),
        False,
        "warm the decay up (timm's ModelEmaV3 use_warmup): update n keeps min(decay, 1 - (1 + "
        "n)^(-2/3)) of the average, so that it follows the early weights instead of the first",
    )


def resolve(ema: bool | float | ModelEMA, where, path: str) -> ModelEMA | None:
    """`ema: true` (the defaults) or `ema: DECAY` is a section written at the key; false: off."""
    if isinstance(ema, ModelEMA):
        return ema
    decay = ema if isinstance(ema, float) else ModelEMA.decay
    return ModelEMA(decay=decay, location=where, path=path) if ema else None


class ModelEma(Feature):
    name = "ema"
    order = 100
    fields = {
        "ema": spec_field(
            OneOf(Bool(), DECAY, Struct(ModelEMA), what="true, a decay or {decay, every, warmup}"),
            None,
            "also keep an exponential moving average of the weights: true (timm's decay 0.9998 "
            "every step), a decay, or {decay, every, warmup}",
            resolve=resolve,
            annotation=ModelEMA | None,
        )
    }
    imports = ("from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn",)
    least = ("train.ema.every",)
    most = {"train.ema.decay": 1}

    def check(self, bp, problems) -> None:
        ema = bp.train.ema
        if ema is not None and ema.decay == 1:
            problems.add(
                ema.key_locations.get("decay", ema.location),
                "train.ema.decay" if "decay" in ema.key_locations else "train.ema",
                "a decay of 1 keeps the first weights forever: the average would never move",
                "timm uses 0.9998 (every step), torchvision's recipes 0.99998 every 32 steps, "
                "scaled",
            )

    def on(self, train) -> bool:
        return train.ema is not None

    def config(self, train) -> dict:
        ema = train.ema
        warmup = {"warmup": True} if ema.warmup else {}
        return {"ema": {"decay": ema.decay, "every": ema.every} | warmup}

    def setting_check(self, path: str, value):
        if path == "train.ema.every":
            return "run", 1 + (value == 1)
        if path == "train.ema.decay":
            return "probe", ("ema", 0.5)
        if path == "train.ema.warmup":
            return "probe", ("ema", False)
        return None

    def metrics(self, project) -> list[str]:
        return ["val_ema_loss", "val_ema_acc"] + (
            ["val_ema_top5"] if "top5" in project.pieces.features else []
        )

    def readme(self, project) -> str:
        ema = project.blueprint.train.ema
        every = "step" if ema.every == 1 else f"{ema.every} optimizer steps"
        warmup = (
            " Its decay warms up as timm's ModelEmaV3 `use_warmup` does: update n keeps "
            f"min({ema.decay}, 1 - (1 + n)^(-2/3)) of the average, so that early on it follows "
            "the weights, not the first ones (`train.ema.warmup`); a resume goes on counting "
            "from the checkpoint's updates."
            if ema.warmup
            else ""
        )
        return (
            f"**Model EMA**: an exponential moving average of the weights and batch-norm "
            f"statistics (decay {ema.decay}, updated every {every}), evaluated every "
            "epoch (`val_ema_loss`, `val_ema_acc` in metrics.csv) and saved in every "
            "checkpoint as `ema` (`python -m "
            f"{project.package}.evaluate --ema` evaluates it); `best.pt` is chosen by the raw "
            "weights' `val_acc`." + warmup
        )


UNIT = ModelEma()
