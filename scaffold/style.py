"""The layout of generated code, shared by the formatter and the code that lays out long lines, and
how numbers are written in it."""

LINE_LENGTH = 100  # of generated code: the generated pyproject.toml's [tool.black] says the same


def float_literal(value: float) -> str:
    """repr's shortest digits that give `value` back, with the exponent as people write it
    (torchvision's `eps=1e-6`, not `1e-06`; `1e16`, not `1e+16`)."""
    digits, e, exponent = repr(value).partition("e")
    return f"{digits}e{int(exponent)}" if e else digits
