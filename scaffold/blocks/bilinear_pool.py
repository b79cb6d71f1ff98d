"""`bilinear_pool`: bilinear pooling (Lin, RoyChowdhury and Maji 2015)."""

from __future__ import annotations

from .base import (
    HOLE,
    Context,
    Enum,
    Float,
    Fragment,
    Layer,
    Ref,
    Shape,
    spec_field,
    unit,
    vector,
)

BILINEAR_POOL = Fragment(
    "bilinear_pool",
    '''
def bmm_float32(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """torch.bmm in true float32: TF32, which training turns on for speed elsewhere, keeps 10 of
    float32's 23 mantissa bits. The setting is put back afterwards."""
    tf32 = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        return torch.bmm(a, b)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = tf32


class MeanOuterProduct(torch.autograd.Function):
    """x @ x^T / P for x of shape (N, C, P), in true float32 both ways: the backward pass, which
    autograd runs after the forward's settings are gone, turns TF32 off again."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        return bmm_float32(x, x.transpose(1, 2)) / x.shape[2]

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        return bmm_float32(grad + grad.transpose(1, 2), x) / x.shape[2]


@torch.compiler.disable  # compiled code reads the TF32 setting when it compiles, not as it runs
def bilinear_pool(
    x: torch.Tensor, eps: float = 1e-10, signed: bool = True
) -> torch.Tensor:
    """Bilinear pooling (Lin, RoyChowdhury and Maji 2015): (N, C, H, W) -> (N, C * C).

    The mean outer product of the C-dimensional feature vectors over all H x W positions, then a
    square root (signed, as in the paper, or plain) and L2 normalisation. Works at any H x W.
    """
    n, c, h, w = x.shape
    # In true float32, even under autocast and with TF32 on: each entry is a mean of H * W products.
    with torch.autocast(device_type=x.device.type, enabled=False):
        x = MeanOuterProduct.apply(x.float().reshape(n, c, h * w))  # (N, C, C)
        x = x.reshape(n, c * c)
        if signed:
            x = torch.sign(x) * torch.sqrt(torch.abs(x) + eps)
        else:
            x = torch.sqrt(x + eps)  # features after ReLU are non-negative
        return F.normalize(x, dim=1)
''',
    uses=("torch", "F"),
    defines=("bmm_float32", "MeanOuterProduct", "bilinear_pool"),
)


@unit("bilinear_pool", "bilinear")
class BilinearPool(Layer):
    """Bilinear pooling (Lin et al. 2015): mean outer product of the features over positions, signed sqrt, L2 norm."""

    FRAGMENTS = (BILINEAR_POOL,)
    eps: float = spec_field(Float(above=0), 1e-10, "added under the square root")
    sqrt: str = spec_field(
        Enum("signed", "plain"),
        "signed",
        "signed: sign(x)*sqrt(|x|+eps) (the paper); plain: sqrt(x+eps) (HaoMood's code)",
    )

    def plan(self, x: Shape, ctx: Context) -> Shape:
        self.need_image(x, "bilinear_pool")
        c, h, w = x.dims
        out = vector(c * c)
        ctx.use(BILINEAR_POOL, by=self)
        args: dict = {}
        if self.eps != 1e-10:
            args["eps"] = self.eps
        if self.sqrt == "plain":
            args["signed"] = False
        ctx.row("", f"bilinear pool {c}x{c}", out, 0, c * c * h * w)  # the batched matrix product
        ctx.forward.start(Ref("bilinear_pool")(HOLE, **args), out.comment())
        return out
