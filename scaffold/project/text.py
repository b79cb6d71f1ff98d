"""Text helpers: user text made safe where generated files print it (Python literals, docstrings,
comments, TOML, YAML), and prose filled to the line length. Every string that comes from the user
reaches generated Python through `py_literal` or `docstring_text`, so blueprint text is data,
never code."""

from __future__ import annotations

import json
import re
import textwrap

import yaml

from ..style import LINE_LENGTH


def docstring_text(text: str) -> str:
    """User text made safe inside a triple-quoted docstring (one line, no escapes to misread)."""
    text = " ".join(text.split())
    text = text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    if text.endswith('"'):
        text += " "
    return text


def comment_text(text: str) -> str:
    """User text made safe in a `#` comment (a single line)."""
    return "".join(ch if ch.isprintable() else " " for ch in " ".join(text.split()))


def toml_string(text: str) -> str:
    """One line of user text as a TOML basic string (JSON's escapes are valid TOML; DEL is not
    allowed raw)."""
    text = " ".join(text.split())
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def yaml_text(data) -> str:
    return yaml.safe_dump(
        data, sort_keys=False, default_flow_style=None, allow_unicode=True, width=100
    )


def wrapped(text: str, indent: int = 0) -> str:
    """Prose assembled by a template, its paragraphs filled to the line length, for docstrings
    black leaves as they are: the first line follows opening quotes; with an `indent`, those of
    a function's docstring, and the other lines are indented."""
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", text.strip())]
    pad = " " * indent
    first = pad + '"""'  # the opening quotes count on the first line
    options = {
        "subsequent_indent": pad,
        "break_on_hyphens": False,
    }  # `--no-compile`, "DATE-TIME" and "mid-epoch" stay whole
    filled = [
        textwrap.fill(p, LINE_LENGTH, initial_indent=pad if i else first, **options)
        for i, p in enumerate(p for p in paragraphs if p)
    ]
    return "\n\n".join(filled)[len(first) :]


def markdown_item(text: str) -> str:
    """One Markdown list item, filled to the line length."""
    return textwrap.fill(
        text, LINE_LENGTH, initial_indent="- ", subsequent_indent="  ", break_on_hyphens=False
    )
