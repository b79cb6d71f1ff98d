"""The blueprint JSON Schema, built from the same declarations that read blueprints.

Editors use it through yaml-language-server: put
`# yaml-language-server: $schema=PATH/blueprint.schema.json` at the top of a blueprint.
"""

from __future__ import annotations

import json
from typing import Any

from . import __version__
from .blueprint import Blueprint
from .layers import ALIASES, LAYERS
from .spec import section_fields, section_schema
from .transforms import TRANSFORM_ALIASES, TRANSFORMS


def _tagged(registry: dict[str, type], aliases: dict[str, str]) -> dict[str, Any]:
    """`- kind`, `- kind: value` or `- kind: {arguments}` for every kind and alias."""
    alternatives: list[dict[str, Any]] = []
    bare = []
    for kind, cls in registry.items():
        names = [kind, *(a for a, target in aliases.items() if target == kind)]
        args = section_schema(cls)
        args["properties"] = {k: v for k, v in args["properties"].items()}
        doc = " ".join((cls.__doc__ or "").split())
        value: dict[str, Any] = {"anyOf": [{"type": "null"}, args]}
        shorthand = getattr(cls, "SHORTHAND", None)
        if shorthand:
            value["anyOf"].insert(1, section_fields(cls)[shorthand].schema())
        for name in names:
            alternatives.append(
                {
                    "type": "object",
                    "description": doc,
                    "properties": {name: value},
                    "required": [name],
                    "additionalProperties": False,
                }
            )
            if not args.get("required"):
                bare.append(name)
    alternatives.insert(0, {"enum": bare, "description": "a kind without arguments"})
    return {"anyOf": alternatives}


def _layer() -> dict[str, Any]:
    """A layer: a kind of scaffold's, or a use of a block of the blueprint's `blocks:` (a mapping
    of one key that is no kind of scaffold's: the schema cannot know the blueprint's names)."""
    layer = _tagged(LAYERS, ALIASES)
    known = sorted({*LAYERS, *ALIASES})
    layer["anyOf"].append(
        {
            "type": "object",
            "description": "a block defined in the blueprint's `blocks:`",
            "minProperties": 1,
            "maxProperties": 1,
            "propertyNames": {"not": {"enum": known}},
            "additionalProperties": {"type": ["object", "number", "string", "boolean", "null"]},
        }
    )
    return layer


def blueprint_schema() -> dict[str, Any]:
    schema = section_schema(Blueprint)
    schema.update(
        {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"https://scaffold.dev/schema/blueprint-{__version__}.json",
            "title": "scaffold blueprint",
            "$defs": {
                "layer": _layer(),
                "transform": _tagged(TRANSFORMS, TRANSFORM_ALIASES),
            },
        }
    )
    return schema


def schema_json() -> str:
    return json.dumps(blueprint_schema(), indent=2, ensure_ascii=False) + "\n"
