"""CUDA graphs: `--cuda-graph` captures train.py's whole training step once as a CUDA graph and
replays it, so that a small model is bound neither by Python nor by kernel launches (the data on
the device, a capturable optimizer, bf16 or fp32). The graph replaces the Python step, so the
units that need that step (`needs_python_step`) are refused beside it, in one place
(scaffold/features/__init__.py's check_steps). Its code:
templates/_partials/features/cuda_graph.py.jinja."""

from __future__ import annotations

from ..spec import Bool, spec_field
from . import Feature

KEY = "cuda_graph"


class CudaGraph(Feature):
    name = "cuda_graph"
    order = 150  # train_one_epoch's parameter `step` after the other units' (the moving average's)
    fields = {
        KEY: spec_field(
            Bool(),
            False,
            "--cuda-graph replays the whole training step as one CUDA graph (needs data.on_device)",
        )
    }
    replaces_step = "the CUDA-graph step"
    resumed_flags = (KEY,)

    def check(self, bp, problems) -> None:
        train = bp.train
        if not train.cuda_graph:
            return
        where = train.key_locations.get(KEY, train.location)
        if not bp.data.on_device:
            problems.add(
                where,
                f"train.{KEY}",
                "the CUDA-graph step replays batches that are already on the GPU",
                "set `data.on_device: true` as well",
            )
        optimizers = {train.optimizer.name} | {
            p.optimizer.name for p in train.phases or [] if p.optimizer is not None
        }
        if "rmsprop" in optimizers:
            problems.add(
                where,
                f"train.{KEY}",
                "the CUDA-graph step needs an optimizer with a capturable kernel: sgd, adam or "
                "adamw, not rmsprop",
            )

    def on(self, train) -> bool:
        return bool(train.cuda_graph)


UNIT = CudaGraph()
