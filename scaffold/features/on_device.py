"""Data on the device: small images in memory held whole on the GPU, batched and augmented there
(`--data-on-device`), switched on by the blueprint's data.on_device. Its code:
templates/_partials/features/on_device.py.jinja (and data.py's DeviceData,
templates/_partials/sources/on_device.py.jinja)."""

from __future__ import annotations

from . import Feature


class OnDevice(Feature):
    name = "on_device"
    order = 40  # its flag after --decode; its data after the loader workers' count

    def on_blueprint(self, bp) -> bool:
        return bp.data.on_device


UNIT = OnDevice()
