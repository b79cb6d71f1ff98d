"""scaffold: turn a short blueprint YAML into a complete, standalone PyTorch training project."""

__version__ = "0.1.0"
