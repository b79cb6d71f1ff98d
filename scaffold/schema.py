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


# A use of a block of the blueprint's own `blocks:` section: `- NAME` or `- NAME: {param: value}`.
DEFINED_BLOCK = {
    "anyOf": [
        {"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9_]*$"},
        {
            "type": "object",
            "minProperties": 1,
            "maxProperties": 1,
            "propertyNames": {"pattern": "^[A-Za-z][A-Za-z0-9_]*$"},
        },
    ],
    "description": "a block of the blueprint's `blocks:` section",
}
LAYER, WITH_BLOCKS = "#/$defs/layer", "#/$defs/layer_with_blocks"


def blueprint_schema() -> dict[str, Any]:
    """The blueprint's schema. A blueprint with a `blocks:` section also uses its own blocks as
    layers, whose names no schema knows: its layers are checked against `layer_with_blocks` (every
    kind, or any other name as a block's); one without it, against the kinds alone."""
    schema = section_schema(Blueprint)
    layer = _tagged(LAYERS, ALIASES)
    strict_model = schema["properties"]["model"]
    with_blocks = json.loads(json.dumps(layer).replace(f'"{LAYER}"', f'"{WITH_BLOCKS}"'))
    with_blocks["anyOf"].append(DEFINED_BLOCK)
    schema["properties"]["model"] = json.loads(
        json.dumps(strict_model).replace(f'"{LAYER}"', f'"{WITH_BLOCKS}"')
    )
    schema.update(
        {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"https://scaffold.dev/schema/blueprint-{__version__}.json",
            "title": "scaffold blueprint",
            "if": {"not": {"required": ["blocks"]}},
            "then": {"properties": {"model": strict_model}},
            "$defs": {
                "layer": layer,
                "layer_with_blocks": with_blocks,
                "transform": _tagged(TRANSFORMS, TRANSFORM_ALIASES),
            },
        }
    )
    return schema


def schema_json() -> str:
    return json.dumps(blueprint_schema(), indent=2, ensure_ascii=False) + "\n"
