"""torchvision's copy of the data set (MNIST, CIFAR-10): `--download` fetches it into the data
root. No field of its own: the data set decides. Its code:
templates/_partials/features/torchvision_data.py.jinja."""

from __future__ import annotations

from . import Feature

TORCHVISION_SETS = {"mnist": "MNIST", "cifar10": "CIFAR10"}  # torchvision's class names


class TorchvisionData(Feature):
    name = "torchvision_data"
    order = 1100  # its flag after the training features'

    def on_blueprint(self, bp) -> bool:
        return bp.data.dataset in TORCHVISION_SETS


UNIT = TorchvisionData()
