"""Loader workers: processes that read, decode or augment the samples (`--workers`, the config's
data.num_workers); none for images in memory that no random transform changes, which are batched
from one tensor. No field of its own: the data decide. Its code:
templates/_partials/features/loader_workers.py.jinja."""

from __future__ import annotations

from . import Feature


class LoaderWorkers(Feature):
    name = "loader_workers"
    order = 20  # its flag after --image-size; the workers' count before the data on the device

    def on_blueprint(self, bp) -> bool:
        return bp.loader_workers


UNIT = LoaderWorkers()
