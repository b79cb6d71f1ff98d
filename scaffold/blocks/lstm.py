"""`lstm`: an LSTM over the embedded question; its output is the state after the last real word."""

from __future__ import annotations

from .base import (
    Assign,
    BinOp,
    Channels,
    Context,
    Float,
    Int,
    Layer,
    Shape,
    Var,
    nn,
    spec_field,
    this,
    torch,
    unit,
    vector,
)


@unit("lstm")
class LSTM(Layer):
    """LSTM over the embedded question; its output is the hidden state after the last real token."""

    SHORTHAND = "hidden"
    NAME = "lstm"
    NEEDS_LENGTHS = True  # forward computes each question's length first
    hidden: int = spec_field(Channels, doc="hidden size (the question vector size)")
    layers: int = spec_field(Int(min=1, max=8), 1, "stacked LSTM layers")
    dropout: float = spec_field(Float(min=0, max=1), 0.0, "dropout between stacked layers")

    def plan(self, x: Shape, ctx: Context) -> Shape:
        if x.kind != "words":
            raise self.error(
                "lstm needs a sequence of word vectors (after an embedding), but gets "
                f"{x.describe()}"
            )
        length, features = x.dims
        h = self.hidden
        name = ctx.name(self)
        args: dict = {"batch_first": True}
        if self.layers != 1:
            args["num_layers"] = self.layers
        if self.dropout:
            args["dropout"] = self.dropout
        ctx.module(name, nn.LSTM(features, h, **args))
        params = macs = 0
        inputs = features
        for _ in range(self.layers):  # the four gates' input and recurrent products per word
            params += 4 * h * (inputs + h) + 8 * h
            macs += length * 4 * h * (inputs + h)
            inputs = h
        out = vector(h)
        label = f"lstm x{self.layers}" if self.layers > 1 else "lstm"
        ctx.row(name, label, out, params, macs)
        fw = ctx.forward
        var = Var(fw.var)
        fw.flush()
        first = torch.arange(var.attr("size")(0), device=var.attr("device"))
        fw.statement(
            Assign((fw.var, "_"), this(name)(fw.current), f"(N, L, {h})"),
            Assign(
                fw.var,
                var[first, BinOp(Var("lengths"), "-", 1)],
                f"(N, {h}): the state after the last real word",
            ),
        )
        return out
