"""`linear`: a fully connected layer; its input size is inferred."""

from __future__ import annotations

from typing import Any

from .base import (
    Bool,
    Context,
    Enum,
    OneOf,
    Shape,
    Simple,
    SimpleLayer,
    Size,
    Var,
    nn,
    spec_field,
    unit,
    vector,
)


@unit("linear", "fc", "dense")
class Linear(SimpleLayer):
    """Fully connected layer; the input size is inferred."""

    SHORTHAND = "out"
    NAME = "fc"
    out: Any = spec_field(
        OneOf(Size, Enum("classes"), what="an integer ≥ 1 or `classes`"),
        doc="output features, or `classes` for the number of classes of the data",
    )
    bias: bool = spec_field(Bool(), True, "learn an additive bias")

    def simple(self, x: Shape, ctx: Context, in_sequential: bool) -> Simple:
        if x.kind == "image":
            raise self.error(
                f"linear needs a flat input but gets {x}",
                f"add `- flatten` before it (giving {x.numel} features), or a global_avgpool "
                "and a flatten",
            )
        if x.kind == "tokens":
            raise self.error("linear cannot act on word ids; embed them first")
        features = x.dims[-1]
        out_features = ctx.classes(self) if self.out == "classes" else self.out
        uses_classes = self.out == "classes" or (
            ctx.is_last(self) and out_features == ctx.num_classes
        )
        out = (
            vector(out_features)
            if x.kind == "vector"
            else Shape(x.kind, (*x.dims[:-1], out_features))
        )
        size = Var("num_classes") if uses_classes else out_features
        ctor = nn.Linear(features, size) if self.bias else nn.Linear(features, size, bias=False)
        params = features * out_features + (out_features if self.bias else 0)
        positions = x.dims[0] if x.kind == "sequence" else 1
        if x.kind == "channels_last":
            positions = x.dims[0] * x.dims[1]
        return Simple(
            out, ctor, "linear", params, positions * features * out_features, joinable=True
        )
