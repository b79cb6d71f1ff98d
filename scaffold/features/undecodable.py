"""Undecodable images: where the images are files (not one tensor in memory), `--skip-bad-images`
skips an image that cannot be decoded and counts it, in training and evaluation, instead of
stopping with its name; the epoch's log names the counts. No field of its own: the data set
decides. Its code: templates/_partials/features/undecodable.py.jinja (data.py's readers mark the
samples they skip)."""

from __future__ import annotations

from . import Feature


class Undecodable(Feature):
    name = "undecodable"
    order = 1300  # its flag after the training features' run-control flags

    def on_blueprint(self, bp) -> bool:
        return not bp.in_memory


UNIT = Undecodable()
