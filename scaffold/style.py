"""The layout of generated code, shared by the formatter and the code that lays out long lines, and
how its literals are written: `py_literal` for plain data, which model.py's code (blocks/emit.py)
and the other generated files share."""

LINE_LENGTH = 100  # of generated code: the generated pyproject.toml's [tool.black] says the same


def float_literal(value: float) -> str:
    """repr's shortest digits that give `value` back, with the exponent as people write it
    (torchvision's `eps=1e-6`, not `1e-06`; `1e16`, not `1e+16`)."""
    digits, e, exponent = repr(value).partition("e")
    return f"{digits}e{int(exponent)}" if e else digits


def py_literal(value) -> str:
    """A Python literal for plain data (str, numbers, bools, None, lists, tuples, dicts)."""
    if isinstance(value, str):
        return _str_literal(value)
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, float):
        return float_literal(value)  # 5e-5, as model.py writes it (not 5e-05)
    if isinstance(value, int):
        return repr(value)
    if isinstance(value, tuple):
        inner = ", ".join(py_literal(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, list):
        return "[" + ", ".join(py_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{py_literal(k)}: {py_literal(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no literal for {type(value).__name__}")


def _str_literal(text: str) -> str:
    # repr() escapes quotes, backslashes, newlines and non-printables; prefer double quotes as black does
    literal = repr(text)
    if literal.startswith("'") and '"' not in text:
        literal = '"' + literal[1:-1].replace("\\'", "'") + '"'
    return literal
