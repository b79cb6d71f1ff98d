"""Synchronised batch norm: under DDP on GPUs, batch norm layers normalise with the statistics of
every process's batch (torchvision's --sync-bn). Its code:
templates/_partials/features/sync_bn.py.jinja."""

from __future__ import annotations

from ..spec import Bool, spec_field
from . import Feature


class SyncBatchNorm(Feature):
    name = "sync_bn"
    order = 700
    fields = {
        "sync_bn": spec_field(
            Bool(),
            False,
            "under DDP on GPUs, batch norm statistics over every process's batch (torchvision's "
            "--sync-bn)",
        )
    }

    def on(self, train) -> bool:
        return train.sync_bn

    def check_plan(self, bp, rows, problems) -> None:
        """It acts on batch norm layers: the model must have some."""
        if bp.train.sync_bn and not any(row.kind == "batch norm" for row in rows):
            problems.add(
                bp.train.key_locations.get("sync_bn", bp.train.location),
                "train.sync_bn",
                "the model has no batch norm layers, so there are no statistics to synchronise",
                "remove sync_bn",
            )

    def readme(self, project) -> str:
        return (
            "**Synchronised batch norm** under torchrun on GPUs: statistics over every "
            "process's batch (`nn.SyncBatchNorm`); one process or CPUs keep plain batch norm."
        )


UNIT = SyncBatchNorm()
