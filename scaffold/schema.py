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


def _defined_block(registry: dict[str, type], aliases: dict[str, str]) -> dict[str, Any]:
    """`- NAME: {arguments}` of a block the blueprint defines (`blocks:`): any name that is no
    built-in kind (a misspelt argument of a built-in kind stays an error)."""
    return {
        "type": "object",
        "description": "a block of the blueprint's `blocks:` section, with its arguments",
        "minProperties": 1,
        "maxProperties": 1,
        "propertyNames": {
            "pattern": "^[A-Za-z][A-Za-z0-9_]*$",
            "not": {"enum": [*registry, *aliases]},
        },
    }


def blueprint_schema() -> dict[str, Any]:
    schema = section_schema(Blueprint)
    schema.update(
        {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"https://scaffold.dev/schema/blueprint-{__version__}.json",
            "title": "scaffold blueprint",
            "$defs": {
                "layer": {
                    "anyOf": [*_tagged(LAYERS, ALIASES)["anyOf"], _defined_block(LAYERS, ALIASES)]
                },
                "transform": _tagged(TRANSFORMS, TRANSFORM_ALIASES),
            },
        }
    )
    return schema


def schema_json() -> str:
    return json.dumps(blueprint_schema(), indent=2, ensure_ascii=False) + "\n"
