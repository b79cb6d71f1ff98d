"""`self_attention`: multi-head self-attention over a sequence (ViT's encoder blocks), computed by
`F.scaled_dot_product_attention` with nn.MultiheadAttention's parameter names, so torchvision's
state_dict keys (`in_proj_weight`, `in_proj_bias`, `out_proj`) load as they are."""

from __future__ import annotations

from .base import (
    Context,
    Fragment,
    Int,
    Ref,
    Shape,
    Simple,
    SimpleLayer,
    spec_field,
    unit,
)

SELF_ATTENTION = Fragment(
    "SelfAttention",
    '''
class SelfAttention(nn.Module):
    """Multi-head self-attention (Vaswani et al. 2017) by F.scaled_dot_product_attention, with
    nn.MultiheadAttention's parameters: one input projection to queries, keys and values
    (`in_proj_weight`, `in_proj_bias`) and an output projection (`out_proj`)."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * dim))
        self.out_proj = nn.Linear(dim, dim)
        nn.init.xavier_uniform_(self.in_proj_weight)  # as nn.MultiheadAttention
        nn.init.zeros_(self.out_proj.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, length, dim = x.shape
        qkv = F.linear(x, self.in_proj_weight, self.in_proj_bias)  # (N, L, 3 * dim)
        # queries, keys and values, each (N, heads, L, dim / heads)
        q, k, v = qkv.view(n, length, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)
        x = F.scaled_dot_product_attention(q, k, v)  # softmax(q k^T / sqrt(dim / heads)) v
        return self.out_proj(x.transpose(1, 2).reshape(n, length, dim))
''',
    uses=("torch", "nn", "F"),
)


def attention_macs(length: int, dim: int) -> int:
    """Multiply-adds of self-attention on `length` vectors of `dim` features, as
    torch.utils.flop_counter counts them: the input and output projections, and the two matrix
    products of scaled_dot_product_attention (q k^T and the weights times v), over all heads."""
    return 4 * length * dim * dim + 2 * length * length * dim


@unit("self_attention", "multihead_attention")
class SelfAttention(SimpleLayer):
    """Multi-head self-attention over a sequence of vectors (each attends to all), by
    F.scaled_dot_product_attention; torchvision's nn.MultiheadAttention parameter names."""

    SHORTHAND = "heads"
    NAME = "self_attention"
    FRAGMENTS = (SELF_ATTENTION,)
    heads: int = spec_field(
        Int(min=1, max=4096), doc="number of attention heads (the features divide by it)"
    )

    def simple(self, x: Shape, ctx: Context, in_sequential: bool) -> Simple:
        if x.kind not in ("sequence", "words"):
            hint = ""
            if x.kind == "image":
                hint = "turn the image into a sequence of its positions first: `- flatten_patches`"
            raise self.error(
                f"self_attention needs a sequence of vectors but gets {x.describe()}", hint
            )
        length, dim = x.dims
        if dim % self.heads:
            raise self.error(f"{dim} features do not divide into {self.heads} heads", key="heads")
        ctx.use(SELF_ATTENTION, by=self)
        ctor = Ref("SelfAttention")(dim, heads=self.heads)
        params = 4 * dim * dim + 4 * dim
        label = f"self-attention, {int(self.heads)} heads"
        return Simple(x, ctor, label, params, attention_macs(length, dim), joins=True)
