"""Errors meant for people: each one names the file, line, column and field, and says how to fix it."""

from __future__ import annotations


class _Frozen:
    """A frozen value class, as `@dataclass(frozen=True)` makes one, written out once: generating
    the code of each such class took a good part of `scaffold validate`'s start. A subclass lists
    its fields in FIELDS, in order, and writes its own __init__."""

    FIELDS: tuple[str, ...] = ()
    __slots__ = ()

    def __setattr__(self, name: str, value) -> None:
        raise AttributeError(f"cannot assign to field {name!r}: a {type(self).__name__} is frozen")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}: a {type(self).__name__} is frozen")

    def _values(self) -> tuple:
        return tuple(getattr(self, name) for name in self.FIELDS)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.FIELDS)
        return f"{type(self).__name__}({shown})"


class Location(_Frozen):
    """A position in a blueprint file, 1-based as editors show it."""

    FIELDS = ("file", "line", "column")
    file: str
    line: int
    column: int

    def __init__(self, file: str, line: int, column: int) -> None:
        object.__setattr__(self, "file", file)
        object.__setattr__(self, "line", line)
        object.__setattr__(self, "column", column)

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


class Problem(_Frozen):
    """One thing wrong with a blueprint."""

    FIELDS = ("location", "field", "message", "hint")
    location: Location | None
    field: str
    message: str
    hint: str

    def __init__(self, location: Location | None, field: str, message: str, hint: str = "") -> None:
        object.__setattr__(self, "location", location)
        object.__setattr__(self, "field", field)
        object.__setattr__(self, "message", message)
        object.__setattr__(self, "hint", hint)

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else ""
        what = f"{self.field}: " if self.field else ""
        text = f"{where}{what}{self.message}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text

    @property
    def line(self) -> int | None:
        return self.location.line if self.location else None


class BlueprintError(Exception):
    """One or more problems with a blueprint; nothing has been written when this is raised."""

    def __init__(self, problems: list[Problem] | Problem) -> None:
        self.problems = [problems] if isinstance(problems, Problem) else list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class UsageError(Exception):
    """A problem with how a command was called (paths, flags, project state), not with a blueprint."""


class ProblemCollector:
    """Gathers problems while a blueprint is read, so one run reports all of them."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.listed: set[str] = set()  # nouns whose known words a hint has listed already

    def add(self, location: Location | None, field: str, message: str, hint: str = "") -> None:
        self.problems.append(Problem(location, field, message, hint))

    def raise_if_any(self) -> None:
        if self.problems:
            raise BlueprintError(sorted(self.problems, key=_reading_order))


def _reading_order(problem: Problem) -> tuple[int, int]:
    if problem.location is None:
        return (0, 0)
    return (problem.location.line, problem.location.column)
