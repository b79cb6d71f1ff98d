"""Gradient accumulation: the gradients of several batches add up to one optimizer step (timm's
--grad-accum-steps); under DDP only a step's last batch all-reduces them. Its code:
templates/_partials/features/grad_accum.py.jinja. The skeleton counts optimizer steps by
`batches_per_step`, so the features that act after an optimizer step (and a per-step schedule)
and the generated SIGTERM test follow it without knowing of this unit."""

from __future__ import annotations

from ..spec import Int, spec_field
from . import Feature


class Accumulation(Feature):
    name = "grad_accum"
    order = 200
    fields = {
        "grad_accum_steps": spec_field(
            Int(min=1, max=10_000),
            1,
            "batches whose gradients add up to one optimizer step (timm's --grad-accum-steps): "
            "batch_size x this x processes images per step",
        )
    }
    least = ("train.grad_accum_steps",)

    def needs_python_step(self, bp) -> list[tuple[str, str, str]]:
        if bp.train.grad_accum_steps == 1:
            return []
        why = (
            "{step} is one whole optimizer step; it cannot add up the gradients of several batches"
        )
        return [("grad_accum_steps", why, "remove {field}, or grad_accum_steps")]

    def on(self, train) -> bool:
        return train.grad_accum_steps > 1

    def batches_per_step(self, train) -> int:
        return train.grad_accum_steps

    def stdlib_imports(self, project) -> tuple[str, ...]:
        return ("contextlib", "math") if project.pieces.per_step else ("contextlib",)

    def config(self, train) -> dict:
        return {"grad_accum_steps": train.grad_accum_steps}

    def setting_check(self, path: str, value):
        return ("run", 1 + (value == 1)) if path == "train.grad_accum_steps" else None

    def readme(self, project) -> str:
        k = project.blueprint.train.grad_accum_steps
        return (
            f"**Gradient accumulation**: the gradients of {k} batches add up to one optimizer "
            f"step, which sees batch size x {k} x processes images; under DDP only a step's "
            "last batch all-reduces the gradients (the others run under `no_sync`). An "
            "epoch's last step may take fewer batches."
        )


UNIT = Accumulation()
