"""TensorBoard: every number of metrics.csv each epoch, and the loss and learning rate every
--log-every steps, written by rank 0 into OUT/tensorboard. Its code:
templates/_partials/features/tensorboard.py.jinja."""

from __future__ import annotations

from ..spec import Bool, spec_field
from . import Feature


class TensorBoard(Feature):
    name = "tensorboard"
    order = 600
    fields = {
        "tensorboard": spec_field(
            Bool(),
            False,
            "also log to TensorBoard (OUT/tensorboard): every epoch and --log-every steps",
        )
    }
    imports = ("from torch.utils.tensorboard import SummaryWriter",)
    dependencies = ("tensorboard>=2.14",)

    def on(self, train) -> bool:
        return train.tensorboard

    def readme(self, project) -> str:
        return (
            "**TensorBoard**: every number of metrics.csv each epoch, and the loss and "
            "learning rate every `--log-every` steps, in `OUT/tensorboard` (rank 0 writes)."
        )


UNIT = TensorBoard()
