"""Declarative field types: one description of each blueprint field gives both its reader and its JSON Schema.

A section of the blueprint is a class declared with `section` (or a dataclass) whose fields
carry a `FieldType` in their metadata (see `spec_field`). `read_section` builds it from located YAML
nodes, collecting every problem with its position, complete: what the user wrote in shorthand and
what they left out are resolved before the section is constructed, and nothing sets its fields
afterwards. `section_schema` turns the same declarations into JSON Schema for `scaffold schema`.
"""

from __future__ import annotations

import dataclasses
import math
import re
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

from .errors import Location, ProblemCollector
from .source import MapNode, Node, ScalarNode, SeqNode

INVALID: Any = object()  # a value that failed to read; its problem is already recorded
REQUIRED: Any = object()


class FieldType:
    """How one value is read from YAML and described in JSON Schema."""

    def read(self, node: Node, path: str, problems: ProblemCollector) -> Any:
        raise NotImplementedError

    def schema(self) -> dict[str, Any]:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def _wrong(self, node: Node, path: str, problems: ProblemCollector, hint: str = "") -> Any:
        problems.add(node.location, path, f"expected {self.describe()}, got {show(node)}", hint)
        return INVALID


def show(node: Node) -> str:
    """A short description of what the user wrote, for messages."""
    if isinstance(node, MapNode):
        return "a mapping"
    if isinstance(node, SeqNode):
        return "a list"
    value = node.value  # type: ignore[attr-defined]
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, str):
        text = value if len(value) <= 40 else value[:37] + "..."
        return f"the text {text!r}"
    return f"{type(value).__name__} {value!r}"


def scalar(node: Node) -> Any:
    return node.value if isinstance(node, ScalarNode) else INVALID


class Int(FieldType):
    def __init__(self, min: int | None = None, max: int | None = None) -> None:
        self.min, self.max = min, max

    def read(self, node: Node, path: str, problems: ProblemCollector) -> Any:
        value = scalar(node)
        if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            return self._wrong(node, path, problems)
        return _check_range(value, self.min, self.max, node, path, problems)

    def schema(self) -> dict[str, Any]:
        return _with_range({"type": "integer"}, self.min, self.max)

    def describe(self) -> str:
        return _describe_range("an integer", self.min, self.max)


class Float(FieldType):
    def __init__(
        self, min: float | None = None, max: float | None = None, above: float | None = None
    ) -> None:
        self.min, self.max, self.above = min, max, above

    def read(self, node: Node, path: str, problems: ProblemCollector) -> Any:
        value = scalar(node)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return self._wrong(node, path, problems)
        if hasattr(value, "expr"):  # computed from a defined block's arguments: keep its code
            return _check_range(value, self.min, self.max, node, path, problems)
        try:
            value = float(value)
        except OverflowError:  # an integer with hundreds of digits
            problems.add(node.location, path, "is far too large a number")
            return INVALID
        if not math.isfinite(value):
            problems.add(node.location, path, f"must be a finite number, got {value}")
            return INVALID
        if self.above is not None and value <= self.above:
            problems.add(node.location, path, f"must be greater than {self.above:g}, got {value:g}")
            return INVALID
        return _check_range(value, self.min, self.max, node, path, problems)

    def schema(self) -> dict[str, Any]:
        result = _with_range({"type": "number"}, self.min, self.max)
        if self.above is not None:
            result["exclusiveMinimum"] = self.above
        return result

    def describe(self) -> str:
        if self.above is not None:
            return f"a number greater than {self.above:g}"
        return _describe_range("a number", self.min, self.max)


class Bool(FieldType):
    def read(self, node: Node, path: str, problems: ProblemCollector) -> Any:
        value = scalar(node)
        if not isinstance(value, bool):
            return self._wrong(node, path, problems)
        return value

    def schema(self) -> dict[str, Any]:
        return {"type": "boolean"}

    def describe(self) -> str:
        return "true or false"


class Str(FieldType):
    def __init__(
        self, pattern: str | None = None, max_length: int = 4000, what: str = "a text"
    ) -> None:
        self.pattern, self.max_length, self.what = pattern, max_length, what

    def read(self, node: Node, path: str, problems: ProblemCollector) -> Any:
        value = scalar(node)
        if not isinstance(value, str):
            return self._wrong(node, path, problems)
        if len(value) > self.max_length:
            problems.add(
                node.location,
                path,
                f"is {len(value)} characters long; at most {self.max_length} are allowed",
            )
            return INVALID
        if self.pattern and not re.fullmatch(self.pattern, value):
            return self._wrong(node, path, problems)
        return value

    def schema(self) -> dict[str, Any]:
        result: dict[str, Any] = {"type": "string", "maxLength": self.max_length}
        if self.pattern:
            result["pattern"] = f"^(?:{self.pattern})$"
        return result

    def describe(self) -> str:
        return self.what


class Enum(FieldType):
    """One of a fixed set of words; aliases map extra spellings onto them."""

    def __init__(self, *choices: str, aliases: dict[str, str] | None = None) -> None:
        self.choices = choices
        self.aliases = aliases or {}

    def read(self, node: Node, path: str, problems: ProblemCollector) -> Any:
        value = scalar(node)
        if isinstance(value, str):
            key = value.strip()
            if key in self.choices:
                return key
            if key in self.aliases:
                return self.aliases[key]
            lowered = key.lower()
            if lowered in self.choices:
                return lowered
            if lowered in self.aliases:
                return self.aliases[lowered]
            problems.add(
                node.location,
                path,
                f"unknown value {value!r}; expected {self.describe()}",
                did_you_mean(key, [*self.choices, *self.aliases]),
            )
            return INVALID
        return self._wrong(node, path, problems)

    def schema(self) -> dict[str, Any]:
        return {"enum": [*self.choices, *self.aliases]}

    def describe(self) -> str:
        return "one of " + ", ".join(self.choices)


class ListOf(FieldType):
    def __init__(self, item: FieldType, min_items: int = 0, max_items: int | None = None) -> None:
        self.item, self.min_items, self.max_items = item, min_items, max_items

    def read(self, node: Node, path: str, problems: ProblemCollector) -> Any:
        if not isinstance(node, SeqNode):
            return self._wrong(node, path, problems)
        if len(node.items) < self.min_items:
            problems.add(
                node.location,
                path,
                "is empty" if not node.items else f"needs at least {self.min_items} entries",
                f"give at least {self.min_items} {'entry' if self.min_items == 1 else 'entries'}"
                " (see `scaffold schema`, or a bundled blueprint: `scaffold list`)",
            )
            return INVALID
        if self.max_items is not None and len(node.items) > self.max_items:
            problems.add(node.location, path, f"has more than {self.max_items} entries")
            return INVALID
        values = [
            self.item.read(item, f"{path}[{i}]", problems) for i, item in enumerate(node.items)
        ]
        return INVALID if any(v is INVALID for v in values) else values

    def schema(self) -> dict[str, Any]:
        result: dict[str, Any] = {"type": "array", "items": self.item.schema()}
        if self.min_items:
            result["minItems"] = self.min_items
        if self.max_items is not None:
            result["maxItems"] = self.max_items
        return result

    def describe(self) -> str:
        return f"a list, each entry {self.item.describe()}"


class OneOf(FieldType):
    """The first alternative whose shape (scalar, list, mapping) fits the node reads it."""

    def __init__(self, *alternatives: FieldType, what: str | None = None) -> None:
        self.alternatives, self.what = alternatives, what

    def read(self, node: Node, path: str, problems: ProblemCollector) -> Any:
        for alternative in self.alternatives:
            trial = ProblemCollector()
            value = alternative.read(node, path, trial)
            if not trial.problems:
                return value
        fitting = [a for a in self.alternatives if _fits(a, node)]
        if len(fitting) == 1 and isinstance(fitting[0], Enum):
            # a word that is none of the choices: say what else would do, keep the did-you-mean
            trial = ProblemCollector()
            fitting[0].read(node, path, trial)
            return self._wrong(node, path, problems, trial.problems[0].hint)
        if len(fitting) == 1:  # the user clearly meant this form: report its own problem
            return fitting[0].read(node, path, problems)
        return self._wrong(node, path, problems)

    def schema(self) -> dict[str, Any]:
        return {"anyOf": [a.schema() for a in self.alternatives]}

    def describe(self) -> str:
        return self.what or " or ".join(a.describe() for a in self.alternatives)


def _fits(field_type: FieldType, node: Node) -> bool:
    """Whether `node` has the form of `field_type` (a number for a number, a word for a word),
    even if its value is wrong: then that alternative's own message is the helpful one."""
    if isinstance(field_type, ListOf):
        return isinstance(node, SeqNode)
    if isinstance(field_type, Pair):  # [height, width], or one number for both
        return isinstance(node, SeqNode) or _fits(field_type.item, node)
    if isinstance(field_type, Struct):
        shorthand = (
            field_type.shorthand and section_fields(field_type.section)[field_type.shorthand]
        )
        return isinstance(node, MapNode) or bool(shorthand and _fits(shorthand, node))
    if isinstance(field_type, OneOf):
        return any(_fits(a, node) for a in field_type.alternatives)
    if not isinstance(node, ScalarNode):
        return False
    if isinstance(field_type, (Enum, Str)):
        return isinstance(node.value, str)
    if isinstance(field_type, (Int, Float)):
        return isinstance(node.value, (int, float)) and not isinstance(node.value, bool)
    if isinstance(field_type, Bool):
        return isinstance(node.value, bool)
    return True


class Pair(FieldType):
    """An integer for both dimensions, or [height, width]."""

    def __init__(self, item: Int) -> None:
        self.item = item

    def read(self, node: Node, path: str, problems: ProblemCollector) -> Any:
        if isinstance(node, ScalarNode) and isinstance(node.value, tuple) and len(node.value) == 2:
            # a defined block's pair argument (`kernel: $kernel`): checked, kept with its code
            items = [ScalarNode(node.location, v) for v in node.value]
            values = [self.item.read(n, f"{path}[{i}]", problems) for i, n in enumerate(items)]
            return INVALID if INVALID in values else node.value
        if isinstance(node, SeqNode):
            if len(node.items) != 2:
                problems.add(node.location, path, "expected [height, width]")
                return INVALID
            values = [self.item.read(n, f"{path}[{i}]", problems) for i, n in enumerate(node.items)]
            return INVALID if INVALID in values else (values[0], values[1])
        value = self.item.read(node, path, problems)
        return INVALID if value is INVALID else (value, value)

    def schema(self) -> dict[str, Any]:
        item = self.item.schema()
        return {"anyOf": [item, {"type": "array", "items": item, "minItems": 2, "maxItems": 2}]}

    def describe(self) -> str:
        return f"{self.item.describe()} or [height, width]"


class Struct(FieldType):
    """A mapping read into a section dataclass (see `read_section`)."""

    def __init__(self, section: type, shorthand: str | None = None) -> None:
        self.section, self.shorthand = section, shorthand

    def read(self, node: Node, path: str, problems: ProblemCollector) -> Any:
        if isinstance(node, MapNode):
            return read_section(self.section, node, path, problems)
        if self.shorthand and isinstance(node, (ScalarNode, SeqNode)):
            mapping = MapNode(
                node.location, {self.shorthand: node}, {self.shorthand: node.location}
            )
            return read_section(self.section, mapping, path, problems)
        return self._wrong(node, path, problems)

    def schema(self) -> dict[str, Any]:
        result = section_schema(self.section)
        if self.shorthand:
            shorthand_type = section_fields(self.section)[self.shorthand]
            return {"anyOf": [shorthand_type.schema(), result]}
        return result

    def describe(self) -> str:
        return "a mapping"


class Any_(FieldType):
    """Free-form data (kept as plain Python values)."""

    def read(self, node: Node, path: str, problems: ProblemCollector) -> Any:
        from .source import to_plain

        return to_plain(node)

    def schema(self) -> dict[str, Any]:
        return {}

    def describe(self) -> str:
        return "any value"


def _check_range(value, low, high, node: Node, path: str, problems: ProblemCollector) -> Any:
    if low is not None and value < low:
        problems.add(node.location, path, f"must be at least {low}, got {value}")
        return INVALID
    if high is not None and value > high:
        problems.add(node.location, path, f"must be at most {high}, got {value}")
        return INVALID
    return value


def _with_range(schema: dict[str, Any], low, high) -> dict[str, Any]:
    if low is not None:
        schema["minimum"] = low
    if high is not None:
        schema["maximum"] = high
    return schema


def _describe_range(what: str, low, high) -> str:
    if low is not None and high is not None:
        return f"{what} from {low} to {high}"
    if low is not None:
        return f"{what} ≥ {low}"
    if high is not None:
        return f"{what} ≤ {high}"
    return what


def did_you_mean(word: str, choices, strict: bool = False) -> str:
    """A close spelling among `choices`; `strict`: only a near miss (a typo), no guess from the
    first letters (`dense_block` is not `dense`, `transition` is not `attention`)."""
    import difflib  # here: only a word that is no field or kind needs it

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.7 if strict else 0.6)
    if not close and not strict:
        close = [c for c in choices if c.lower().startswith(word.lower()[:3])][:1] if word else []
    return f"did you mean '{close[0]}'?" if close else ""


# ---------------------------------------------------------------------------------------------
# Sections: classes whose fields declare their type.

T = TypeVar("T")


class Section:
    """Base of every blueprint section: remembers where it was written, for later messages.
    Declared with `section` below (a dataclass's generated code costs `scaffold validate`)."""

    location: Location | None = dataclasses.field(default=None, compare=False, repr=False)
    path: str = dataclasses.field(default="", compare=False, repr=False)
    key_locations: dict[str, Location] = dataclasses.field(
        default_factory=dict, compare=False, repr=False
    )


def spec_field(
    field_type: FieldType,
    default: Any = REQUIRED,
    doc: str = "",
    key: str | None = None,
    *,
    factory: Callable[[], Any] | None = None,
    resolve: Callable[[Any, Location | None, str], Any] | None = None,
    annotation: Any = None,
):
    """A dataclass field read from the blueprint key `key` (default: the field name).

    `factory` makes the default when the key is absent (a section, complete). `resolve` turns
    what was written into the field's value while the section is read, before it is built:
    `resolve(value, where, path)`, `where` the key's location (e.g. a switch's `true` into its
    section with the defaults, or None for `false`); the default is already the resolved value.
    `annotation` is the type of the resolved value, for a field a feature unit declares
    (scaffold/features/)."""
    metadata = {"type": field_type, "doc": doc, "key": key}
    if resolve is not None:
        metadata["resolve"] = resolve
    if annotation is not None:
        metadata["annotation"] = annotation
    if default is REQUIRED and factory is None:
        return dataclasses.field(default=None, metadata={**metadata, "required": True})
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata={**metadata, "required": False})
    if isinstance(default, (list, dict)):
        return dataclasses.field(
            default_factory=lambda: type(default)(default), metadata={**metadata, "required": False}
        )
    return dataclasses.field(default=default, metadata={**metadata, "required": False})


def section(cls: type[T]) -> type[T]:
    """Make `cls` a section, like @dataclass but without generating code for every class: its
    annotated `spec_field` attributes are its fields, and one shared __init__ (keywords), __repr__
    and __eq__ serve every such class. Block kinds are declared this way: there are dozens, and
    `scaffold validate` would spend a good part of its time in dataclasses' code generation."""
    fields = {f.name: f for f in _fields(cls.__mro__[1])}
    for name in cls.__dict__.get("__annotations__", {}):
        value = cls.__dict__.get(name)
        if isinstance(value, dataclasses.Field):
            value.name = name
            fields[name] = value
            if value.default is dataclasses.MISSING:
                delattr(cls, name)
            else:
                setattr(cls, name, value.default)
    cls.__section_fields__ = tuple(fields.values())
    cls.__init__ = _section_init
    cls.__repr__ = _section_repr
    cls.__eq__ = _section_eq
    cls.__hash__ = None  # as a dataclass: equal by value, so not hashable
    return cls


def _fields(section: type) -> tuple[dataclasses.Field, ...]:
    """The fields of a section class (declared with `section`) or of a dataclass."""
    for cls in section.__mro__:
        own = cls.__dict__.get("__section_fields__")
        if own is not None:
            return own
        if "__dataclass_fields__" in cls.__dict__:
            return dataclasses.fields(cls)
    return ()


def _section_init(self, **values: Any) -> None:
    for f in type(self).__section_fields__:
        if f.name in values:
            setattr(self, f.name, values.pop(f.name))
        elif f.default is not dataclasses.MISSING:
            setattr(self, f.name, f.default)
        elif f.default_factory is not dataclasses.MISSING:
            setattr(self, f.name, f.default_factory())
        else:
            raise TypeError(f"{type(self).__name__}() misses the argument {f.name!r}")
    if values:
        raise TypeError(f"{type(self).__name__}() got unknown arguments {', '.join(values)}")


def _section_repr(self) -> str:
    shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in _fields(type(self)) if f.repr)
    return f"{type(self).__name__}({shown})"


def _section_eq(self, other: object) -> bool:
    if type(other) is not type(self):
        return NotImplemented
    return all(
        getattr(self, f.name) == getattr(other, f.name) for f in _fields(type(self)) if f.compare
    )


def replaced(section: T, **changes: Any) -> T:
    """A new section like `section` (its location too) with `changes`: how a section is
    completed from another while reading, without setting a field of one already built."""
    values = {f.name: getattr(section, f.name) for f in _fields(type(section))}
    return type(section)(**(values | changes))


section(Section)


def section_fields(section: type) -> dict[str, FieldType]:
    return {
        (f.metadata.get("key") or f.name): f.metadata["type"]
        for f in _fields(section)
        if "type" in f.metadata
    }


_READ_PLANS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # a defined block's go with it


def _read_plan(section: type) -> tuple[dict[str, dataclasses.Field], set[str], Callable | None]:
    """A section's fields by key, the names of all its fields, and its `resolve_values` (once
    per class: a defined block's layers are read at each of its uses)."""
    plan = _READ_PLANS.get(section)
    if plan is None:
        fields = _fields(section)
        declared = [f for f in fields if "type" in f.metadata]
        keys = {(f.metadata.get("key") or f.name): f for f in declared}
        resolve = getattr(section, "resolve_values", None)
        plan = _READ_PLANS[section] = (keys, {f.name for f in fields}, resolve)
    return plan


def read_section(
    section: type[T],
    node: MapNode,
    path: str,
    problems: ProblemCollector,
    *,
    location: Location | None = None,
    given: dict[str, Any] | None = None,
) -> T:
    """Build `section` from a mapping; unknown keys, missing keys and bad values become problems.

    The section is complete when built, and nothing sets its fields afterwards: each field's
    `resolve` (see `spec_field`) turns its shorthand into its value, and the class's
    `resolve_values(values, location, path)`, if it has one, fills in what depends on more
    than one field, before the section is constructed. `location` is where the section was
    written (default: the mapping's), and `given` holds values read elsewhere."""
    keys, names, resolve_values = _read_plan(section)
    values: dict[str, Any] = {}
    ok = True
    for key, value_node in node.entries.items():
        if key not in keys:
            problems.add(
                node.key_locations.get(key, node.location),
                _join(path, key),
                f"unknown key '{key}'" + (f" in {path}" if path else ""),
                did_you_mean(key, keys) or "known keys: " + ", ".join(keys),
            )
            ok = False
            continue
        spec = keys[key]
        metadata = spec.metadata
        value = metadata["type"].read(value_node, _join(path, key), problems)
        if value is INVALID:
            ok = False
        elif "resolve" in metadata:
            where = node.key_locations.get(key, node.location)
            values[spec.name] = metadata["resolve"](value, where, _join(path, key))
        else:
            values[spec.name] = value
    for key, spec in keys.items():
        if spec.metadata["required"] and spec.name not in values and key not in node.entries:
            problems.add(
                node.location,
                _join(path, key),
                f"missing required key '{key}'" + (f" in {path}" if path else ""),
                spec.metadata["doc"],
            )
            ok = False
    if not ok:
        return INVALID
    if given:
        values.update(given)
    location = node.location if location is None else location
    if resolve_values is not None:
        values = resolve_values(values, location, path)
    if "location" in names:
        values["location"] = location
    if "path" in names:
        values["path"] = path
    if "key_locations" in names:
        values["key_locations"] = dict(node.key_locations)
    return section(**values)


def section_schema(section: type) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    required: list[str] = []
    for f in _fields(section):
        if "type" not in f.metadata:
            continue
        key = f.metadata.get("key") or f.name
        schema = dict(f.metadata["type"].schema())
        if f.metadata["doc"]:
            schema["description"] = f.metadata["doc"]
        properties[key] = schema
        if f.metadata["required"]:
            required.append(key)
    result: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if section.__doc__:
        result["description"] = " ".join(section.__doc__.split())
    if required:
        result["required"] = required
    return result


def location_of(section: Any, key: str | None = None) -> Location | None:
    """Where a section (or one of its keys) was written."""
    if key is not None:
        found = getattr(section, "key_locations", {}).get(key)
        if found is not None:
            return found
    return getattr(section, "location", None)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def read_tagged(
    node: Node,
    path: str,
    problems: ProblemCollector,
    registry: dict[str, type],
    aliases: dict[str, str],
    noun: str,
    example: str,
) -> Any:
    """Read an entry written as `- kind`, `- kind: value` or `- kind: {arguments}`.

    `registry` maps each kind to a Section class with class attributes KIND and SHORTHAND (the
    field a single value fills in).
    """
    if isinstance(node, ScalarNode) and isinstance(node.value, str):
        word, args = node.value, None
    elif isinstance(node, MapNode) and len(node.entries) == 1:
        word, args = next(iter(node.entries.items()))
    elif isinstance(node, MapNode) and node.entries:
        keys = list(node.entries)
        known = keys[0] in registry or keys[0] in aliases
        problems.add(
            node.location,
            path,
            f"a {noun} is one kind with its arguments, but this entry has "
            f"{len(keys)} keys: {', '.join(keys)}",
            (
                f"indent the arguments under the kind: `- {keys[0]}: {{{keys[1]}: ...}}`"
                if known
                else f"write each {noun} as `- kind: {{arguments}}`"
            ),
        )
        return INVALID
    else:
        problems.add(node.location, path, f"expected a {noun} such as {example}, got {show(node)}")
        return INVALID

    kind = word if word in registry else aliases.get(word, aliases.get(word.lower(), word.lower()))
    if kind not in registry:
        hint = did_you_mean(word, [*registry, *aliases], strict=True)
        if not hint and noun in problems.listed:  # the list of kinds once, not for every word
            hint = f"the known {noun}s are listed above"
        elif not hint:
            hint = f"known {noun}s: " + ", ".join(registry)
            problems.listed.add(noun)
        problems.add(node.location, path, f"unknown {noun} type '{word}'", hint)
        return INVALID
    cls = registry[kind]
    tagged_path = f"{path} ({kind})"
    if args is None or (isinstance(args, ScalarNode) and args.value is None):
        args = MapNode(node.location)
    elif not isinstance(args, MapNode):
        if cls.SHORTHAND is None:
            problems.add(
                args.location,
                tagged_path,
                f"{kind} takes no single value",
                f"write `- {kind}` or `- {kind}: {{argument: value}}`",
            )
            return INVALID
        args = MapNode(args.location, {cls.SHORTHAND: args}, {cls.SHORTHAND: args.location})
    return read_section(cls, args, tagged_path, problems, location=node.location)
