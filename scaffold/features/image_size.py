"""Other image sizes: a model that takes images of any size from its smallest up trains at the
size `--image-size` gives (the config records it); no field of its own, the model's plan decides.
Its code: templates/_partials/features/image_size.py.jinja."""

from __future__ import annotations

from . import Feature


class ImageSize(Feature):
    name = "image_size"
    order = 15  # its flag first among the data's

    def on_blueprint(self, bp) -> bool:
        return False  # the model's plan decides (on_project)

    def on_project(self, project) -> bool:
        return project.plan.size_agnostic


UNIT = ImageSize()
