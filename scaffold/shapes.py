"""Tensor shapes as the shape checker sees them: per sample, without the batch dimension."""

from __future__ import annotations


class Shape:
    """`kind` says what the dimensions are: image (C, H, W), vector (F,), tokens (L,) word ids,
    words (L, F) one vector per word, sequence (R, F) one vector per image region, channels_last
    (H, W, C) an image permuted for layers that act on the last dimension (ConvNeXt's MLP).

    A frozen value, as `@dataclass(frozen=True)` would make it, written out: `scaffold validate`
    would spend more on generating that code than on the shapes themselves."""

    kind: str
    dims: tuple[int, ...]

    def __init__(self, kind: str, dims: tuple[int, ...]) -> None:
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "dims", dims)

    def __setattr__(self, name: str, value) -> None:
        raise AttributeError(f"cannot assign to field {name!r}: a Shape is frozen")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}: a Shape is frozen")

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self.kind == other.kind and self.dims == other.dims

    def __hash__(self) -> int:
        return hash((self.kind, self.dims))

    def __repr__(self) -> str:
        return f"Shape(kind={self.kind!r}, dims={self.dims!r})"

    def __str__(self) -> str:
        if self.kind == "tokens":
            return f"{self.dims[0]} tokens"
        return "x".join(str(d) for d in self.dims)

    def comment(self) -> str:
        """The shape with the batch dimension, as written in a code comment: (N, C, H, W)."""
        if self.kind == "tokens":
            return "(N, L)"
        if self.kind == "words":
            return f"(N, L, {self.dims[1]})"
        return "(N, " + ", ".join(str(d) for d in self.dims) + ")"

    def describe(self) -> str:
        """The shape in words, for messages: "an image 3x32x32", "a vector of 10 features"."""
        if self.kind == "image":
            return f"an image {self}"
        if self.kind == "vector":
            return f"a vector of {self.dims[0]} features"
        if self.kind == "tokens":
            return f"word ids ({self.dims[0]} tokens)"
        if self.kind == "sequence":
            return f"{self.dims[0]} image regions of {self.dims[1]} features"
        if self.kind == "channels_last":
            return f"a channels-last image {self} (H x W x C)"
        return f"a sequence of word vectors ({self.dims[1]} features each)"

    @property
    def numel(self) -> int:
        """The number of values, in a defined block written as its expression (`flatten`)."""
        total = 1
        for d in self.dims:
            total *= d
        return total

    @property
    def count(self) -> int:
        """The number of values as a plain number (for multiply-adds, which are never code)."""
        total = 1
        for d in self.dims:
            total *= int(d)
        return total


def image(c: int, h: int, w: int) -> Shape:
    return Shape("image", (c, h, w))


def channels_last(h: int, w: int, c: int) -> Shape:
    return Shape("channels_last", (h, w, c))


def vector(f: int) -> Shape:
    return Shape("vector", (f,))


def sequence(length: int, features: int) -> Shape:
    return Shape("sequence", (length, features))


def words(length: int, features: int) -> Shape:
    return Shape("words", (length, features))


def tokens(length: int) -> Shape:
    return Shape("tokens", (length,))


def conv_out(
    size: int, kernel: int, stride: int, padding: int, dilation: int = 1, ceil: bool = False
) -> int:
    """Output length of a convolution or pooling window (PyTorch's formula)."""
    span = dilation * (kernel - 1) + 1
    numerator = size + 2 * padding - span
    if ceil:
        out = -(-numerator // stride) + 1
        if (out - 1) * stride >= size + padding:  # the last window must start inside the input
            out -= 1
        return out
    return numerator // stride + 1
