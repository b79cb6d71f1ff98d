"""Element-wise non-linearities: `relu`, `relu6`, `leaky_relu`, `elu`, `gelu`, `silu`, `tanh`,
`sigmoid`. A call in forward (`F.relu(...)`), or a module inside a `sequential` group."""

from __future__ import annotations

from .base import (
    HOLE,
    Context,
    F,
    Float,
    Shape,
    Simple,
    SimpleLayer,
    dataclass,
    nn,
    spec_field,
    torch,
    unit,
)

# kind: (the call in forward, the module in an nn.Sequential)
CALLS = {
    "relu": (F.relu(HOLE), nn.ReLU(inplace=True)),
    "relu6": (F.relu6(HOLE), nn.ReLU6(inplace=True)),
    "elu": (F.elu(HOLE), nn.ELU(inplace=True)),
    "gelu": (F.gelu(HOLE), nn.GELU()),
    "silu": (F.silu(HOLE), nn.SiLU(inplace=True)),
    "tanh": (torch.tanh(HOLE), nn.Tanh()),
    "sigmoid": (torch.sigmoid(HOLE), nn.Sigmoid()),
}


@dataclass
class Activation(SimpleLayer):
    """An element-wise non-linearity."""

    def simple(self, x: Shape, ctx: Context, in_sequential: bool) -> Simple:
        if x.kind == "tokens":
            raise self.error(f"{self.KIND} cannot act on word ids; embed them first")
        call, module = self.code()
        if in_sequential:
            return Simple(x, module, self.KIND)
        return Simple(x, None, self.KIND, call=call, joins=True)

    def code(self):
        return CALLS[self.KIND]


for _kind in CALLS:
    # subclasses without fields of their own: no @dataclass needed (and none spent at import)
    unit(_kind, *(("swish",) if _kind == "silu" else ()))(
        type(
            _kind.title().replace("_", ""),
            (Activation,),
            {"__doc__": f"{_kind} activation", "__module__": __name__},
        )
    )


@unit("leaky_relu")
@dataclass
class LeakyReLU(Activation):
    """Leaky ReLU."""

    SHORTHAND = "negative_slope"
    negative_slope: float = spec_field(Float(min=0), 0.01, "slope for negative inputs")

    def code(self):
        return (
            F.leaky_relu(HOLE, negative_slope=self.negative_slope),
            nn.LeakyReLU(negative_slope=self.negative_slope, inplace=True),
        )
