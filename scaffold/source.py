"""YAML with positions: every value of a blueprint remembers the line and column it came from.

PyYAML's composer already tracks marks; this module turns its node graph into small
typed nodes (mapping, sequence, scalar) and reports duplicate keys and syntax errors
as located problems instead of tracebacks.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from .errors import BlueprintError, Location, Problem


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


# libyaml's parser where PyYAML has it, with the same resolvers (so the same values) and marks:
# twenty times faster than the pure-Python one, which stays for what libyaml refuses (its
# messages are the ones written for) and for text it would read differently (below)
_CLoader = None
if hasattr(yaml, "CSafeLoader"):

    class _CLoader(yaml.CSafeLoader):  # type: ignore[no-redef]
        pass

    _CLoader.yaml_implicit_resolvers = {
        key: list(value) for key, value in _Loader.yaml_implicit_resolvers.items()
    }


def _compose(text: str):
    """The node graph of one YAML document (PyYAML's exceptions as it raises them)."""
    # PyYAML refuses non-printable characters that libyaml takes; only ASCII text goes fast, so
    # that every column counts characters as PyYAML counts them
    if (
        _CLoader is not None
        and text.isascii()
        and not yaml.reader.Reader.NON_PRINTABLE.search(text)
    ):
        try:
            return yaml.compose(text, Loader=_CLoader)
        except yaml.YAMLError:
            pass  # the pure-Python parser's message
    return yaml.compose(text, Loader=_Loader)


class Node:
    """A value of the YAML text with its position. The node classes are written out rather than
    made by @dataclass (the same __init__, ==, and repr): generating their code took a good part
    of `scaffold validate`'s start."""

    FIELDS: tuple[str, ...] = ("location",)
    __hash__ = None  # equal by value, so not hashable (as a dataclass)

    def __init__(self, location: Location) -> None:
        self.location = location

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self.FIELDS)

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.FIELDS)
        return f"{type(self).__name__}({shown})"


class ScalarNode(Node):
    FIELDS = ("location", "value")

    def __init__(self, location: Location, value: Any) -> None:
        self.location = location
        self.value = value


class SeqNode(Node):
    FIELDS = ("location", "items")

    def __init__(self, location: Location, items: list[Node] | None = None) -> None:
        self.location = location
        self.items = [] if items is None else items


class MapNode(Node):
    FIELDS = ("location", "entries", "key_locations")

    def __init__(
        self,
        location: Location,
        entries: dict[str, Node] | None = None,
        key_locations: dict[str, Location] | None = None,
    ) -> None:
        self.location = location
        self.entries = {} if entries is None else entries
        self.key_locations = {} if key_locations is None else key_locations


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


MAX_VALUES = 100_000  # a blueprint has a few hundred; aliases of aliases can make billions


def parse_yaml(text: str, file: str) -> Node:
    """Parse one YAML document into located nodes, or raise a BlueprintError."""
    try:
        root = _compose(text)
    except yaml.MarkedYAMLError as error:
        raise BlueprintError(_syntax_problem(error, text, file)) from None
    except yaml.reader.ReaderError as error:  # a non-printable character: located by its position
        before = text[: error.position]
        location = Location(file, before.count("\n") + 1, len(before) - before.rfind("\n"))
        message = (
            f"invalid YAML: the non-printable character #x{error.character:04x} is not allowed"
        )
        raise BlueprintError(
            Problem(
                location,
                "",
                message,
                "remove it, or write it as an escape in a double-quoted string",
            )
        ) from None
    except yaml.YAMLError as error:
        raise BlueprintError(Problem(Location(file, 1, 1), "", f"invalid YAML: {error}")) from None
    except RecursionError:
        raise BlueprintError(_too_deep(file)) from None
    if root is None:
        raise BlueprintError(
            Problem(
                Location(file, 1, 1),
                "",
                "the file has only comments" if text.strip() else "the file is empty",
                "a blueprint needs at least `name`, `input` and `model`; see `scaffold list` for examples",
            )
        )
    converter = _Converter(file)
    try:
        node = converter.convert(root, "")
    except RecursionError:
        raise BlueprintError(_too_deep(file)) from None
    if converter.problems:
        raise BlueprintError(converter.problems)
    return node


def _location(file: str, mark: yaml.Mark) -> Location:
    return Location(file, mark.line + 1, mark.column + 1)


def _too_deep(file: str) -> Problem:
    return Problem(Location(file, 1, 1), "", "the YAML is nested too deeply to be a blueprint")


def _syntax_problem(error: yaml.MarkedYAMLError, text: str, file: str) -> Problem:
    mark = error.problem_mark or error.context_mark
    location = _location(file, mark) if mark else Location(file, 1, 1)
    message = (error.problem or "invalid YAML").strip()
    if error.context and message.startswith("but "):  # "expected X" + "but found Y": one sentence
        message = f"{error.context}, {message}"
    elif error.context and "found" not in message:
        message = f"{error.context}: {message}"
    hint = _yaml_hint(message)
    opened = error.context_mark
    if opened and error.problem_mark and opened.line < error.problem_mark.line:
        # an unclosed bracket or quote is noticed lines later: say where it was opened
        what = text[opened.index : opened.index + 1] if opened.index < len(text) else ""
        if what in ("[", "{", "'", '"') and "end" in message and "stream" in message:
            # noticed only at the end of the file: the opening is the line to fix
            message = f"this {what} is never closed (the file ends first)"
            closing = {"[": "]", "{": "}"}.get(what, what)
            return Problem(
                _location(file, opened), "", f"invalid YAML: {message}", f"close it with {closing}"
            )
        if what in ("[", "{", "'", '"'):
            hint = (
                f"the {what} at line {opened.line + 1}, column {opened.column + 1} is never closed"
            )
    return Problem(location, "", f"invalid YAML: {message}", hint)


def _yaml_hint(message: str) -> str:
    if "tab" in message or "'\\t'" in message:
        return "indent with spaces; YAML does not allow tabs"
    if "mapping values are not allowed" in message:
        return "a value containing ': ' must be quoted, or a nested mapping must be indented"
    if "could not find expected ':'" in message:
        return "each entry of a mapping is `key: value`"
    if "<stream end>" in message:
        return (
            "the file ends in the middle of a value: close every [ and {, and finish the last entry"
        )
    if "single document" in message:
        return (
            "a blueprint is one YAML document: remove the `---` or `...` line that starts another"
        )
    return ""


_PLAIN_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")


class _Converter:
    """Turns PyYAML's node graph into located nodes, collecting problems instead of raising.

    An anchor used several times is converted once (its nodes are shared), but every use counts
    towards MAX_VALUES, and an alias inside its own anchor is reported instead of recursing."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.loader = _Loader("")
        self.problems: list[Problem] = []
        self.done: dict[int, tuple[Node, int]] = {}  # id of a yaml node: (result, values in it)
        self.active: set[int] = set()  # yaml nodes being converted: an alias to one is a cycle
        self.count = 0

    def add(self, location: Location, path: str, message: str, hint: str = "") -> None:
        self.problems.append(Problem(location, path, message, hint))

    def convert(self, node: yaml.Node, path: str) -> Node:
        location = _location(self.file, node.start_mark)
        key = id(node)
        if key in self.active:
            self.add(
                location,
                path,
                "this alias refers to an anchor that contains it",
                "YAML data cannot contain itself",
            )
            return ScalarNode(location, None)
        if key in self.done:
            result, size = self.done[key]
            self._count(size, location)
            return result
        start = self.count
        self.active.add(key)
        try:
            result = self._convert(node, path, location)
        finally:
            self.active.discard(key)
        self.done[key] = (result, self.count - start)
        return result

    def _count(self, values: int, location: Location) -> None:
        self.count += values
        if self.count > MAX_VALUES:
            problem = Problem(
                location,
                "",
                f"the blueprint has more than {MAX_VALUES:,} values once its aliases are expanded",
                "a blueprint needs a few hundred; check the anchors (&) and aliases (*)",
            )
            raise BlueprintError(problem)

    def _convert(self, node: yaml.Node, path: str, location: Location) -> Node:
        self._count(1, location)
        if isinstance(node, yaml.ScalarNode):
            try:
                return ScalarNode(location, self.loader.construct_object(node))
            except yaml.constructor.ConstructorError:
                self._unsupported_tag(node, path, location)
                return ScalarNode(location, None)
        if node.tag not in _PLAIN_TAGS:
            self._unsupported_tag(node, path, location)
        if isinstance(node, yaml.SequenceNode):
            return SeqNode(
                location, [self.convert(item, f"{path}[{i}]") for i, item in enumerate(node.value)]
            )
        assert isinstance(node, yaml.MappingNode)
        return self._mapping(node, path, location)

    def _unsupported_tag(self, node: yaml.Node, path: str, location: Location) -> None:
        tag = node.tag.replace("tag:yaml.org,2002:", "!!")
        self.add(
            location,
            path,
            f"unsupported YAML tag '{tag}'",
            "a blueprint holds plain values: remove the tag",
        )

    def _mapping(self, node: yaml.MappingNode, path: str, location: Location) -> MapNode:
        # `<<: *anchor` merges: PyYAML puts the merged entries first; the mapping's own entries
        # (the last `own` ones) override them, as YAML says, and only they can be duplicates.
        own = sum(1 for key_node, _ in node.value if key_node.tag != "tag:yaml.org,2002:merge")
        try:
            self.loader.flatten_mapping(node)
        except yaml.constructor.ConstructorError as error:
            mark = error.problem_mark or node.start_mark
            self.add(
                _location(self.file, mark),
                path,
                f"invalid merge (<<): {error.problem}",
                "`<<:` takes an alias of a mapping (`<<: *defaults`) or a list of them",
            )
            return MapNode(location)
        merged = len(node.value) - own
        result = MapNode(location)
        own_keys: set[str] = set()
        for index, (key_node, value_node) in enumerate(node.value):
            key_location = _location(self.file, key_node.start_mark)
            if not isinstance(key_node, yaml.ScalarNode):
                self.add(key_location, path, "a mapping key must be a plain name")
                continue
            key = str(key_node.value)  # as written: `null: 1` is the key 'null', not None
            field = f"{path}.{key}" if path else key
            if key in own_keys:
                first = result.key_locations[key]
                self.add(
                    key_location,
                    field,
                    f"duplicate key '{key}' (first given at line {first.line})",
                    "keep one of them; YAML silently drops the first otherwise",
                )
                continue
            result.entries[key] = self.convert(value_node, field)
            result.key_locations[key] = key_location
            if index >= merged:
                own_keys.add(key)
        return result
