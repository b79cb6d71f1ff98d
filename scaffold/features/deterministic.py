"""Deterministic algorithms: torch.use_deterministic_algorithms, no cudnn.benchmark, cuBLAS's
deterministic workspace; a run repeats bit for bit (torchvision's --use-deterministic-algorithms).
`--deterministic/--no-deterministic` overrides the config. Its code:
templates/_partials/features/deterministic.py.jinja."""

from __future__ import annotations

from ..spec import Bool, spec_field
from . import Feature


class Deterministic(Feature):
    name = "deterministic"
    order = 800
    fields = {
        "deterministic": spec_field(
            Bool(),
            False,
            "deterministic algorithms only, cudnn.benchmark off: bit-identical runs, slower "
            "(torchvision's --use-deterministic-algorithms)",
        )
    }
    flags = {"deterministic": "train.deterministic"}

    def on(self, train) -> bool:
        return train.deterministic

    def config(self, train) -> dict:
        return {"deterministic": True}

    def setting_check(self, path: str, value):
        return ("run", not value) if path == "train.deterministic" else None

    def readme(self, project) -> str:
        return (
            "**Deterministic algorithms** (`torch.use_deterministic_algorithms`, no "
            "cudnn.benchmark, `CUBLAS_WORKSPACE_CONFIG`): a run repeats bit for bit, a little "
            "slower; an operation torch has no deterministic version of warns (on CUDA, e.g. "
            "adaptive pooling's backward pass). `--no-deterministic` turns it off."
        )


UNIT = Deterministic()
