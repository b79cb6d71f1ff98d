"""YAML with positions: every value of a blueprint remembers the line and column it came from.

PyYAML's composer already tracks marks; this module turns its node graph into small
typed nodes (mapping, sequence, scalar) and reports duplicate keys and syntax errors
as located problems instead of tracebacks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from scaffold.errors import BlueprintError, Location, Problem


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads `1e-8` as a float (YAML 1.2), as every ML config writes it."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+][0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


@dataclass
class Node:
    location: Location


@dataclass
class ScalarNode(Node):
    value: Any


@dataclass
class SeqNode(Node):
    items: list[Node] = field(default_factory=list)


@dataclass
class MapNode(Node):
    entries: dict[str, Node] = field(default_factory=dict)
    key_locations: dict[str, Location] = field(default_factory=dict)


def to_plain(node: Node) -> Any:
    """The node as plain Python data (dicts, lists, scalars)."""
    if isinstance(node, MapNode):
        return {key: to_plain(value) for key, value in node.entries.items()}
    if isinstance(node, SeqNode):
        return [to_plain(item) for item in node.items]
    assert isinstance(node, ScalarNode)
    return node.value


def from_plain(value: Any, file: str = "<data>") -> Node:
    """Nodes for data that has no file behind it (a blueprint replayed from copier's answers)."""
    location = Location(file, 1, 1)
    if isinstance(value, dict):
        return MapNode(
            location,
            {str(k): from_plain(v, file) for k, v in value.items()},
            {str(k): location for k in value},
        )
    if isinstance(value, list):
        return SeqNode(location, [from_plain(v, file) for v in value])
    return ScalarNode(location, value)


def parse_yaml(text: str, file: str) -> Node:
    """Parse one YAML document into located nodes, or raise a BlueprintError."""
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        location = _location(file, mark) if mark else Location(file, 1, 1)
        message = (error.problem or "invalid YAML").strip()
        if error.context and "found" not in message:
            message = f"{error.context}: {message}"
        raise BlueprintError(
            Problem(location, "", f"invalid YAML: {message}", _yaml_hint(message))
        ) from None
    except yaml.YAMLError as error:
        raise BlueprintError(Problem(Location(file, 1, 1), "", f"invalid YAML: {error}")) from None
    if root is None:
        raise BlueprintError(
            Problem(
                Location(file, 1, 1),
                "",
                "the file is empty",
                "a blueprint needs at least `name`, `input` and `model`; see `scaffold list` for examples",
            )
        )
    problems: list[Problem] = []
    node = _convert(root, file, _Loader(""), problems)
    if problems:
        raise BlueprintError(problems)
    return node


def _location(file: str, mark: yaml.Mark) -> Location:
    return Location(file, mark.line + 1, mark.column + 1)


def _yaml_hint(message: str) -> str:
    if "tab" in message:
        return "indent with spaces; YAML does not allow tabs"
    if "mapping values are not allowed" in message:
        return "a value containing ': ' must be quoted, or a nested mapping must be indented"
    if "could not find expected ':'" in message:
        return "each entry of a mapping is `key: value`"
    return ""


def _convert(node: yaml.Node, file: str, loader: yaml.SafeLoader, problems: list[Problem]) -> Node:
    location = _location(file, node.start_mark)
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)  # resolves `<<: *anchor` merges
        result = MapNode(location)
        for key_node, value_node in node.value:
            key_location = _location(file, key_node.start_mark)
            if not isinstance(key_node, yaml.ScalarNode):
                problems.append(Problem(key_location, "", "a mapping key must be a plain name"))
                continue
            key = str(loader.construct_object(key_node))
            if key in result.entries:
                first = result.key_locations[key]
                problems.append(
                    Problem(
                        key_location,
                        key,
                        f"duplicate key '{key}' (first given at line {first.line})",
                        "keep one of them; YAML silently drops the first otherwise",
                    )
                )
                continue
            result.entries[key] = _convert(value_node, file, loader, problems)
            result.key_locations[key] = key_location
        return result
    if isinstance(node, yaml.SequenceNode):
        return SeqNode(location, [_convert(item, file, loader, problems) for item in node.value])
    return ScalarNode(location, loader.construct_object(node))
