"""Element-wise non-linearities: `relu`, `relu6`, `leaky_relu`, `elu`, `gelu`, `silu`, `tanh`,
`sigmoid`, `hardswish`, `hardsigmoid`. A call in forward (`F.relu(...)`), or a module inside a `sequential` group.
"""

from __future__ import annotations

from .base import (
    HOLE,
    Context,
    Expr,
    F,
    Float,
    Shape,
    Simple,
    SimpleLayer,
    nn,
    section,
    spec_field,
    torch,
    unit,
)


@section
class Activation(SimpleLayer):
    """An element-wise non-linearity: CALL in forward, MODULE in an nn.Sequential."""

    CALL: Expr
    MODULE: Expr

    def simple(self, x: Shape, ctx: Context, in_sequential: bool) -> Simple:
        if x.kind == "tokens":
            raise self.error(f"{self.KIND} cannot act on word ids; embed them first")
        if in_sequential:
            return Simple(x, self.MODULE, self.KIND)
        return Simple(x, None, self.KIND, call=self.CALL, joins=True)


@unit("relu")
class ReLU(Activation):
    """relu activation"""

    CALL, MODULE = F.relu(HOLE), nn.ReLU(inplace=True)


@unit("relu6")
class ReLU6(Activation):
    """relu6 activation"""

    CALL, MODULE = F.relu6(HOLE), nn.ReLU6(inplace=True)


@unit("elu")
class ELU(Activation):
    """elu activation"""

    CALL, MODULE = F.elu(HOLE), nn.ELU(inplace=True)


@unit("gelu")
class GELU(Activation):
    """gelu activation"""

    CALL, MODULE = F.gelu(HOLE), nn.GELU()


@unit("silu", "swish")
class SiLU(Activation):
    """silu activation"""

    CALL, MODULE = F.silu(HOLE), nn.SiLU(inplace=True)


@unit("tanh")
class Tanh(Activation):
    """tanh activation"""

    CALL, MODULE = torch.tanh(HOLE), nn.Tanh()


@unit("sigmoid")
class Sigmoid(Activation):
    """sigmoid activation"""

    CALL, MODULE = torch.sigmoid(HOLE), nn.Sigmoid()


@unit("hardswish", "hard_swish")
class Hardswish(Activation):
    """hardswish activation (MobileNetV3)"""

    CALL, MODULE = F.hardswish(HOLE), nn.Hardswish(inplace=True)


@unit("hardsigmoid", "hard_sigmoid")
class Hardsigmoid(Activation):
    """hardsigmoid activation (MobileNetV3's squeeze-excitation gate)"""

    CALL, MODULE = F.hardsigmoid(HOLE), nn.Hardsigmoid(inplace=True)


@unit("leaky_relu")
class LeakyReLU(Activation):
    """Leaky ReLU."""

    SHORTHAND = "negative_slope"
    negative_slope: float = spec_field(Float(min=0), 0.01, "slope for negative inputs")

    @property
    def CALL(self) -> Expr:  # noqa: N802 (the class attribute of the others)
        return F.leaky_relu(HOLE, negative_slope=self.negative_slope)

    @property
    def MODULE(self) -> Expr:  # noqa: N802
        return nn.LeakyReLU(negative_slope=self.negative_slope, inplace=True)
