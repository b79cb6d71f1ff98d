"""`partition_attention`: MaxViT's block and grid attention (Tu et al. 2022), as torchvision's
PartitionAttentionLayer: the image cut into size x size windows (`window`, local attention) or
into a size x size grid spread over the whole image (`grid`, dilated global attention); in each
partition, multi-head self-attention with a learned relative position bias, then an MLP, each a
pre-norm residual with stochastic depth. Its modules and buffers have torchvision's names
(`attn_layer`, `mlp_layer`, `to_qkv`, `merge`, `relative_position_bias_table`,
`relative_position_index`), so torchvision's weights load strictly.

Attention is `F.scaled_dot_product_attention` with the bias as its additive mask.
"""

from __future__ import annotations

from .base import (
    HOLE,
    Context,
    Enum,
    Float,
    Fragment,
    Int,
    Layer,
    Ref,
    Shape,
    image,
    is_symbolic,
    spec_field,
    this,
    unit,
)
from .compose import DROP_PATH
from .window_attention import RELATIVE_POSITION_INDEX, use_relative_position_index

PARTITION = Fragment(
    "partition",
    '''
def partition(x: torch.Tensor, ph: int, pw: int) -> torch.Tensor:
    """(N, C, H, W) to (N, H/ph * W/pw, ph * pw, C): the ph x pw windows, each a sequence."""
    n, c, h, w = x.shape
    x = x.reshape(n, c, h // ph, ph, w // pw, pw).permute(0, 2, 4, 3, 5, 1)
    return x.reshape(n, (h // ph) * (w // pw), ph * pw, c)


def departition(x: torch.Tensor, ph: int, pw: int, h: int, w: int) -> torch.Tensor:
    """partition's inverse: (N, H/ph * W/pw, ph * pw, C) to (N, C, H, W)."""
    n, _, _, c = x.shape
    x = x.reshape(n, h // ph, w // pw, ph, pw, c).permute(0, 5, 1, 3, 2, 4)
    return x.reshape(n, c, h, w)
''',
    uses=("torch",),
    defines=("partition", "departition"),
)

RELATIVE_ATTENTION = Fragment(
    "RelativePositionalMultiHeadAttention",
    '''
class RelativePositionalMultiHeadAttention(nn.Module):
    """Multi-head self-attention among the positions of each partition, with a learned bias for
    each head and each offset of two positions in a size x size window."""

    def __init__(self, dim: int, head_dim: int, size: int) -> None:
        super().__init__()
        self.heads = dim // head_dim
        self.scale = dim**-0.5  # as torchvision's: the width's, not a head's
        self.to_qkv = nn.Linear(dim, 3 * dim)
        self.merge = nn.Linear(dim, dim)
        offsets = (2 * size - 1) ** 2
        self.relative_position_bias_table = nn.Parameter(torch.empty(offsets, self.heads))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        self.register_buffer("relative_position_index", relative_position_index(size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, g, p, d = x.shape  # g partitions of p positions
        qkv = self.to_qkv(x).view(n, g, p, 3, self.heads, d // self.heads)
        q, k, v = qkv.permute(3, 0, 1, 4, 2, 5).unbind(0)  # each (N, G, heads, P, head_dim)
        bias = self.relative_position_bias_table[self.relative_position_index]  # (P, P, heads)
        bias = bias.permute(2, 0, 1).to(q.dtype)
        x = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=self.scale)
        return self.merge(x.transpose(2, 3).reshape(n, g, p, d))
''',
    uses=("torch", "nn", "F", "relative_position_index"),
)

PARTITION_ATTENTION = Fragment(
    "PartitionAttentionLayer",
    '''
class PartitionAttentionLayer(nn.Module):
    """MaxViT's attention in size x size windows (`window`: local) or in a size x size grid over
    the whole image (`grid`: global, dilated), then an MLP; each a pre-norm residual."""

    def __init__(
        self,
        dim: int,
        head_dim: int,
        partition: str,
        size: int = 7,
        mlp_ratio: int = 4,
        drop_path: float = 0.0,
    ) -> None:
        super().__init__()
        self.grid = partition == "grid"
        self.size = size
        self.attn_layer = nn.Sequential(
            nn.LayerNorm(dim), RelativePositionalMultiHeadAttention(dim, head_dim, size)
        )
        self.mlp_layer = nn.Sequential(
            nn.LayerNorm(dim),
            nn.Linear(dim, dim * mlp_ratio),
            nn.GELU(),
            nn.Linear(dim * mlp_ratio, dim),
        )
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[2:]
        # windows of size x size positions; a grid's are (h / size) x (w / size), and its
        # partitions gather the same position of every window
        ph, pw = (h // self.size, w // self.size) if self.grid else (self.size, self.size)
        x = partition(x, ph, pw)  # (N, windows, positions, C)
        if self.grid:
            x = x.transpose(1, 2)
        x = x + self.drop_path(self.attn_layer(x))
        x = x + self.drop_path(self.mlp_layer(x))
        if self.grid:
            x = x.transpose(1, 2)
        return departition(x, ph, pw, h, w)
''',
    uses=("torch", "nn", "partition", "RelativePositionalMultiHeadAttention", "DropPath"),
)


@unit("partition_attention")
class PartitionAttention(Layer):
    """MaxViT's window (block) or grid attention with relative position bias, then an MLP, each
    a pre-norm residual (torchvision's PartitionAttentionLayer)."""

    NAMED_ENTRY = True
    SHORTHAND = "partition"
    NAME = "attention"
    FRAGMENTS = (
        PARTITION,
        RELATIVE_POSITION_INDEX,
        RELATIVE_ATTENTION,
        DROP_PATH,
        PARTITION_ATTENTION,
    )
    partition: str = spec_field(
        Enum("window", "grid"),
        "window",
        "window: attention within size x size windows; grid: within a size x size grid spread "
        "over the whole image",
    )
    head_dim: int = spec_field(Int(min=1, max=65_536), 32, "channels of each attention head")
    size: int = spec_field(Int(min=1, max=1024), 7, "the windows' (or the grid's) side")
    mlp_ratio: int = spec_field(Int(min=1, max=64), 4, "the MLP's hidden width, in channels")
    drop_path: float = spec_field(
        Float(min=0, max=0.99),
        0.0,
        "stochastic depth: the probability of dropping both residual branches for a sample",
    )

    def plan(self, x: Shape, ctx: Context) -> Shape:
        name = ctx.name(self)
        mark = ctx.mark()
        call = self._module(x, ctx, name, depth=1)
        ctx.group(mark, name, self._label(), x)
        ctx.module(name, call)
        ctx.forward.start(this(name)(HOLE), x.comment())
        return x

    def entries(self, x: Shape, ctx: Context, prefix: str, start, depth: int):
        module = f"{prefix}.{start}"
        mark = ctx.mark()
        call = self._module(x, ctx, module, depth + 1)
        ctx.group(mark, module, self._label(), x, depth)
        return [(call, x)]

    def _label(self) -> str:
        return f"{self.partition} attention {self.size}x{self.size}"

    def _module(self, x: Shape, ctx: Context, module: str, depth: int):
        """Check `x`, record the rows of the layer's parts under `module`; its construction."""
        self.need_image(x)
        c, h, w = x.dims
        if c % self.head_dim:
            raise self.error(
                f"{c} channels do not divide into heads of {self.head_dim}",
                "choose a head_dim that divides the channels",
                key="head_dim",
            )
        if h % self.size or w % self.size:
            raise self.error(
                f"input {x}: its height and width must divide by the {self._what()} size "
                f"{self.size}",
                "choose an input size (or strides before it) that gives multiples of it",
                key="size",
            )
        for fragment in self.FRAGMENTS:
            if fragment is RELATIVE_POSITION_INDEX:  # Swin's too: (positions, positions) here
                use_relative_position_index(ctx, self, pairs=True)
            else:
                ctx.use(fragment, by=self)
        positions, window, hidden = h * w, self.size * self.size, c * self.mlp_ratio
        heads = c // self.head_dim
        table = (2 * self.size - 1) ** 2 * heads
        attention = 4 * c * c + 4 * c + table
        ctx.row(f"{module}.attn_layer.0", "layer norm", x, 2 * c, 0, depth)
        ctx.row(
            f"{module}.attn_layer.1",
            f"attention, {heads} heads",
            x,
            attention,
            # q, k, v and the merge; q k^T and the weighted sum in each window
            positions * 4 * c * c + 2 * positions * window * c,
            depth,
        )
        ctx.row(f"{module}.mlp_layer.0", "layer norm", x, 2 * c, 0, depth)
        wide = image(hidden, h, w)
        ctx.row(
            f"{module}.mlp_layer.1",
            "linear",
            wide,
            c * hidden + hidden,
            positions * c * hidden,
            depth,
        )
        ctx.row(f"{module}.mlp_layer.3", "linear", x, hidden * c + c, positions * hidden * c, depth)
        args: dict = {"head_dim": self.head_dim, "partition": self.partition}
        if self.size != 7 or is_symbolic(self.size):
            args["size"] = self.size
        if self.mlp_ratio != 4 or is_symbolic(self.mlp_ratio):
            args["mlp_ratio"] = self.mlp_ratio
        if self.drop_path or is_symbolic(self.drop_path):
            args["drop_path"] = self.drop_path
        return Ref("PartitionAttentionLayer")(c, **args)

    def _what(self) -> str:
        return "grid" if self.partition == "grid" else "window"
