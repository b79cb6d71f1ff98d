"""GPU decoding: JPEG files decoded and transformed on the device in batches, one batch ahead on
a stream of its own (`--decode gpu`, the default with CUDA), for data sets of image files. No field
of its own: the data set decides. Its code: templates/_partials/features/gpu_decode.py.jinja (and
data.py's, templates/_partials/sources/gpu_decode.py.jinja)."""

from __future__ import annotations

from . import Feature

JPEG_DATASETS = ("image_folder", "cub", "vqa")  # image files, worth decoding on the GPU


class GpuDecode(Feature):
    name = "gpu_decode"
    order = 30  # its flag first among the speed's; its start_run before the features' helpers

    def on_blueprint(self, bp) -> bool:
        return bp.data.dataset in JPEG_DATASETS


UNIT = GpuDecode()
