"""The layer vocabulary of blueprints: what a user may write in `model.layers` and friends.

Each block kind is a unit in scaffold/blocks/ (its fields, its shape and count rule, its code);
a template may add its own in a `blocks/` folder at its root. This module gives the reader and
the schema the registry: `LAYERS` (kind -> class, each unit imported when first asked for),
`ALIASES`, `LayerList` for a section's list of layers, and `BlocksType` for a blueprint's own
blocks (its `blocks:` section). A layer is written as a bare word
(`- relu`), a word with its main argument (`- linear: 120`), or a word with a mapping of
arguments (`- conv: {out: 64, kernel: 3}`).
"""

from __future__ import annotations

from typing import Any

from .blocks.base import IDENTIFIER, Channels, Layer, LayerList, Name, Size
from .blocks.base import read_layer as read_layer
from .blocks.registry import REGISTRY
from .errors import ProblemCollector
from .source import MapNode, Node
from .spec import FieldType

LAYERS = REGISTRY
ALIASES = REGISTRY.aliases

__all__ = [
    "ALIASES",
    "BlocksType",
    "IDENTIFIER",
    "LAYERS",
    "Channels",
    "Layer",
    "LayerList",
    "Name",
    "Size",
    "read_layer",
]


class Defined(dict):
    """A blueprint's blocks by name, and the names of those whose definition was refused."""

    def __init__(self) -> None:
        super().__init__()
        self.refused: set[str] = set()


class BlocksType(FieldType):
    """A blueprint's `blocks:` section: block name -> definition."""

    def read(self, node: Node, path: str, problems: ProblemCollector) -> Any:
        if not isinstance(node, MapNode):
            return self._wrong(node, path, problems)
        # only for blueprints that define blocks (validate's speed); defined.py imports base.py,
        # never this module, so the import closes no cycle
        from .blocks.defined import block_class, read_definition

        kinds = REGISTRY.builtin_words()
        result = Defined()
        for name, value in node.entries.items():
            d = read_definition(name, value, f"{path}.{name}", problems, kinds)
            if d is not None:
                result[name] = block_class(d)
            else:  # reported where it is defined, not again at each use
                result.refused.add(name)
        return result

    def schema(self) -> dict[str, Any]:
        from .blocks.defined import definition_schema  # a definition's form lives with its reader

        return {"type": "object", "additionalProperties": definition_schema()}

    def describe(self) -> str:
        return "a mapping of block names to {params, layers}"
