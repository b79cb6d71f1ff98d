"""Mixup and cutmix of training batches (torchvision.transforms.v2's MixUp and CutMix), the
labels made soft; with both, one of the two per batch at even odds. Its code:
templates/_partials/features/mixing.py.jinja."""

from __future__ import annotations

from ..spec import Bool, Float, OneOf, Section, Struct, section, spec_field
from . import Feature


@section
class MixUp(Section):
    """Mixup (Zhang et al. 2018): each training batch blended with itself in another order, the
    labels blended alike, by a weight drawn from Beta(alpha, alpha)."""

    alpha: float = spec_field(
        Float(above=0, max=100), 0.2, "Beta(alpha, alpha) of the blend (torchvision's recipes: 0.2)"
    )


@section
class CutMix(Section):
    """CutMix (Yun et al. 2019): a rectangle of each training image replaced by the same place
    of another image of the batch, the labels mixed by area, drawn from Beta(alpha, alpha)."""

    alpha: float = spec_field(
        Float(above=0, max=100), 1.0, "Beta(alpha, alpha) of the area (torchvision's recipes: 1.0)"
    )


def _switch(section: type, doc: str):
    """A setting given as `true` (its defaults), `false` (off), its alpha, or a mapping: read as
    the section, or None when off."""

    def resolve(value: bool | Section, where, path: str) -> Section | None:
        if isinstance(value, bool):  # true: the defaults, written at the key; false: off
            return section(location=where, path=path) if value else None
        return value

    alternatives = Bool(), Struct(section, shorthand="alpha")
    return spec_field(
        OneOf(*alternatives, what="true, false, alpha or {alpha: ...}"),
        None,
        doc,
        resolve=resolve,
        annotation=section | None,
    )


KINDS = {"mixup": MixUp, "cutmix": CutMix}


class Mixing(Feature):
    name = "mixing"
    order = 50
    fields = {
        "mixup": _switch(MixUp, "mixup of training batches: true (alpha 0.2), or its alpha"),
        "cutmix": _switch(
            CutMix,
            "cutmix of training batches: true (alpha 1.0), or its alpha; with mixup, each "
            "batch gets one of the two, at even odds",
        ),
    }
    imports = ("from torchvision.transforms import v2",)
    readme_part = "data"

    def check(self, bp, problems) -> None:
        train = bp.train
        for key in self.blends_images(train):
            where = train.key_locations.get(key, train.location)
            if bp.is_vqa:
                problems.add(
                    where,
                    f"train.{key}",
                    f"{key} blends images and their labels; a question belongs to one image, and "
                    "its answer cannot be blended",
                    f"remove train.{key}",
                )

    def needs_python_step(self, bp) -> list[tuple[str, str, str]]:
        if bp.is_vqa:  # refused already (check)
            return []
        return [
            (
                key,
                f"{{step}} replays fixed label tensors; {key} makes soft labels",
                f"remove train.{key} or train.{{field}}",
            )
            for key in self.blends_images(bp.train)
        ]

    def blends_images(self, train) -> list[str]:
        return [key for key in KINDS if getattr(train, key) is not None]

    def on(self, train) -> bool:
        return bool(self.blends_images(train))

    def config(self, train) -> dict:
        return {f"{key}_alpha": getattr(train, key).alpha for key in self.blends_images(train)}

    def setting_check(self, path: str, value):
        if path in ("train.mixup_alpha", "train.cutmix_alpha"):
            return "probe", ("mix", value * 2)
        return None

    def readme(self, project) -> str:
        mix = self.config(project.blueprint.train)
        kinds = [
            f"{key} (alpha {mix[f'{key}_alpha']}, `train.{key}_alpha`)"
            for key in KINDS
            if f"{key}_alpha" in mix
        ]
        odds = ", one of the two for each batch at even odds" if len(kinds) == 2 else ""
        return (
            f"**Mixing**: Every training batch gets {' or '.join(kinds)}{odds}; the loss takes"
            " the soft labels, and `train_acc` counts the class each mixed image holds most"
            " of. The draws come from the seed, the epoch and the step: resume stays exact."
        )


UNIT = Mixing()
