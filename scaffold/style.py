"""The layout of generated code, shared by the formatter and the code that lays out long lines."""

LINE_LENGTH = 100  # of generated code: the generated pyproject.toml's [tool.black] says the same
