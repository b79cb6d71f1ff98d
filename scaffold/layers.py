"""The layer vocabulary of blueprints: what a user may write in `model.layers` and friends.

Each block kind is a unit in scaffold/blocks/ (its fields, its shape and count rule, its code);
a template may add its own in a `blocks/` folder at its root. This module gives the reader and
the schema the registry: `LAYERS` (kind -> class, each unit imported when first asked for),
`ALIASES`, and `LayerList` for a section's list of layers. A layer is written as a bare word
(`- relu`), a word with its main argument (`- linear: 120`), or a word with a mapping of
arguments (`- conv: {out: 64, kernel: 3}`).
"""

from __future__ import annotations

from .blocks.base import IDENTIFIER, Channels, Layer, LayerList, Name, Size
from .blocks.base import read_layer as read_layer
from .blocks.registry import REGISTRY

LAYERS = REGISTRY
ALIASES = REGISTRY.aliases

__all__ = [
    "ALIASES",
    "IDENTIFIER",
    "LAYERS",
    "Channels",
    "Layer",
    "LayerList",
    "Name",
    "Size",
    "read_layer",
]
