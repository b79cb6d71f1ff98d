"""Errors meant for people: each one names the file, line, column and field, and says how to fix it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Location:
    """A position in a blueprint file, 1-based as editors show it."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a blueprint."""

    location: Location | None
    field: str
    message: str
    hint: str = ""

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
