"""`window_attention`: Swin's shifted-window multi-head self-attention (Liu et al. 2021), with a
learned bias for each offset between two positions of a window (v1), or Swin V2's cosine
attention with a bias computed from the offsets by a small MLP (Liu et al. 2022), laid out as
torchvision's ShiftedWindowAttention(V2). The attention itself is
`F.scaled_dot_product_attention`, the position bias (and the shifted windows' mask) its
`attn_mask`."""

from __future__ import annotations

from .base import (
    Context,
    Fragment,
    Int,
    Layer,
    Ref,
    Shape,
    Simple,
    SimpleLayer,
    is_symbolic,
    spec_field,
    unit,
)

# MaxViT's attention and Swin's index their bias tables with the same offsets: Swin's buffer is
# flat, as torchvision's, MaxViT's (positions, positions). A model with both defines MaxViT's
# helper once, and Swin's classes flatten what it gives.
_INDEX_FLAT = '''
def relative_position_index(window: int) -> torch.Tensor:
    """For every pair of positions (i, j) of a window, in rows, the index of their offset
    (dy, dx) in a table of the (2 * window - 1) ** 2 offsets: (window * window) ** 2 indices."""
    coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij"))
    coords = coords.flatten(1)  # (2, window * window)
    offsets = coords[:, :, None] - coords[:, None, :] + window - 1  # from 0 to 2 * window - 2
    return (offsets[0] * (2 * window - 1) + offsets[1]).flatten()
'''

_INDEX_PAIRS = '''
def relative_position_index(size: int) -> torch.Tensor:
    """(size², size²): for two positions of a size x size window, the index of their offset
    (dy, dx) among the (2 size - 1)² offsets."""
    coords = torch.stack(torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij"))
    coords = coords.flatten(1)
    offsets = coords[:, :, None] - coords[:, None, :] + size - 1  # (2, P, P), from 0
    return offsets[0] * (2 * size - 1) + offsets[1]
'''

RELATIVE_POSITION_INDEX = Fragment(
    "relative_position_index",
    lambda flags: _INDEX_PAIRS if "pairs" in flags else _INDEX_FLAT,
    uses=("torch",),
)


def use_relative_position_index(ctx: Context, by: Layer, pairs: bool = False) -> None:
    """model.py defines relative_position_index: (positions, positions) where `pairs` (MaxViT)
    asks for it, and Swin's classes flatten it then."""
    flags = ("pairs",) if pairs else ()
    ctx.use(RELATIVE_POSITION_INDEX, *flags, by=by)
    if "pairs" in ctx.fragments[RELATIVE_POSITION_INDEX]:
        for fragment in (WINDOW_ATTENTION, WINDOW_ATTENTION_V2):
            if fragment in ctx.fragments:
                ctx.use(fragment, "flatten")


RELATIVE_COORDS_TABLE = Fragment(
    "relative_coords_table",
    '''
def relative_coords_table(window: int) -> torch.Tensor:
    """Swin V2's inputs of the position bias MLP: every offset (dy, dx) of two positions of a
    window, scaled to [-8, 8] and log-spaced, sign(t) * log2(1 + |t|) / 3. (1, 2w-1, 2w-1, 2)."""
    offsets = torch.arange(-(window - 1), window, dtype=torch.float32) / (window - 1) * 8
    table = torch.stack(torch.meshgrid(offsets, offsets, indexing="ij"), dim=-1)[None]
    return torch.sign(table) * torch.log2(table.abs() + 1.0) / 3.0
''',
    uses=("torch",),
)

SHIFTED_WINDOW_MASK = Fragment(
    "shifted_window_mask",
    '''
def shifted_window_mask(
    height: int, width: int, window: int, shifts: tuple[int, int], device: torch.device
) -> torch.Tensor:
    """-100 between two positions of a shifted window that the roll brought together from
    different parts of the image, 0 elsewhere: (windows, 1, window * window, window * window)."""

    def parts(size: int, shift: int) -> torch.Tensor:
        """0 before the last window, 1 in it up to the shift, 2 after."""
        i = torch.arange(size, device=device)
        return (i >= size - window).int() + (i >= size - shift).int()

    labels = parts(height, shifts[0])[:, None] * 3 + parts(width, shifts[1])
    labels = labels.view(height // window, window, width // window, window).transpose(1, 2)
    labels = labels.reshape(-1, 1, window * window, 1)
    return (labels != labels.transpose(2, 3)) * -100.0
''',
    uses=("torch",),
)

# The forward of both versions: windows of the padded, rolled image in rows, attention in each
# window, and back. `{scores}` computes q, k, v and the bias of one version.
_FORWARD = """
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, h, w, c = x.shape
        window, heads, size = self.window, self.heads, self.window * self.window
        pad_h, pad_w = -h % window, -w % window  # whole windows
        if pad_h or pad_w:
            x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
        ph, pw = h + pad_h, w + pad_w
        shifts = (self.shift if ph > window else 0, self.shift if pw > window else 0)
        if any(shifts):
            x = torch.roll(x, shifts=(-shifts[0], -shifts[1]), dims=(1, 2))
        x = x.view(n, ph // window, window, pw // window, window, c).transpose(2, 3)
        x = x.reshape(n, -1, size, c)  # (N, windows, L, C): each window's positions in a row
{scores}
        if any(shifts):
            mask = mask + shifted_window_mask(ph, pw, window, shifts, x.device)
        # (N, windows, heads, L, C / heads)
        x = F.scaled_dot_product_attention(q, k, v, attn_mask=mask{scale})
        x = self.proj(x.transpose(2, 3).reshape(n, -1, size, c))
        x = x.view(n, ph // window, pw // window, window, window, c).transpose(2, 3)
        x = x.reshape(n, ph, pw, c)
        if any(shifts):
            x = torch.roll(x, shifts=shifts, dims=(1, 2))
        if pad_h or pad_w:
            x = x[:, :h, :w].contiguous()
        return x
"""

_V1 = '''
class ShiftedWindowAttention(nn.Module):
    """Multi-head self-attention inside each window of window x window positions of an
    (N, H, W, C) image, the windows shifted by `shift` positions (Swin, Liu et al. 2021), with a
    learned bias for every offset between two positions of a window and every head."""

    def __init__(self, dim: int, heads: int, window: int, shift: int = 0) -> None:
        super().__init__()
        self.heads, self.window, self.shift = heads, window, shift
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, heads))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        self.register_buffer("relative_position_index", relative_position_index(window){flatten})
''' + _FORWARD.format(
    scores="""\
        q, k, v = self.qkv(x).view(n, -1, size, 3, heads, c // heads).permute(3, 0, 1, 4, 2, 5)
        bias = self.relative_position_bias_table[self.relative_position_index]
        mask = bias.view(size, size, heads).permute(2, 0, 1)  # (heads, L, L)""",
    scale="",
)

_V2 = '''
class ShiftedWindowAttentionV2(nn.Module):
    """Swin V2's window attention (Liu et al. 2022): multi-head cosine attention inside each
    window of window x window positions of an (N, H, W, C) image, the windows shifted by `shift`
    positions, the cosines scaled by a learned factor per head (at most 100), and a bias for every
    offset between two positions computed by a small MLP (continuous position bias)."""

    def __init__(self, dim: int, heads: int, window: int, shift: int = 0) -> None:
        super().__init__()
        self.heads, self.window, self.shift = heads, window, shift
        self.qkv = nn.Linear(dim, dim * 3)  # the keys' third of the bias is not used
        self.proj = nn.Linear(dim, dim)
        self.logit_scale = nn.Parameter(torch.log(10 * torch.ones(heads, 1, 1)))
        self.cpb_mlp = nn.Sequential(
            nn.Linear(2, 512), nn.ReLU(inplace=True), nn.Linear(512, heads, bias=False)
        )
        self.register_buffer("relative_coords_table", relative_coords_table(window))
        self.register_buffer("relative_position_index", relative_position_index(window){flatten})
''' + _FORWARD.format(
    scores="""\
        q_bias, _, v_bias = self.qkv.bias.chunk(3)
        qkv_bias = torch.cat((q_bias, torch.zeros_like(q_bias), v_bias))
        qkv = F.linear(x, self.qkv.weight, qkv_bias).view(n, -1, size, 3, heads, c // heads)
        q, k, v = qkv.permute(3, 0, 1, 4, 2, 5)
        # cosine similarity times the scale: its factor goes on q
        scale = self.logit_scale.clamp(max=math.log(100.0)).exp()
        q, k = F.normalize(q, dim=-1) * scale, F.normalize(k, dim=-1)
        bias = self.cpb_mlp(self.relative_coords_table).view(-1, heads)
        bias = bias[self.relative_position_index].view(size, size, heads).permute(2, 0, 1)
        mask = 16 * torch.sigmoid(bias)  # (heads, L, L)""",
    scale=", scale=1.0",
)


def _flattening(source: str):
    """A class's source as a function of its flags: `flatten`, where relative_position_index
    gives (positions, positions) pairs (a model with MaxViT's attention too)."""
    return lambda flags: source.replace("{flatten}", ".flatten()" * ("flatten" in flags))


WINDOW_ATTENTION = Fragment(
    "ShiftedWindowAttention",
    _flattening(_V1),
    uses=("torch", "nn", "F", "relative_position_index", "shifted_window_mask"),
)
WINDOW_ATTENTION_V2 = Fragment(
    "ShiftedWindowAttentionV2",
    _flattening(_V2),
    uses=(
        "math",
        "torch",
        "nn",
        "F",
        "relative_coords_table",
        "relative_position_index",
        "shifted_window_mask",
    ),
)

CPB_HIDDEN = 512  # the continuous position bias MLP's hidden features


@unit("window_attention")
class WindowAttention(SimpleLayer):
    """Swin's shifted-window multi-head self-attention on a channels-last image (Liu et al. 2021;
    `version: 2`, Swin V2's cosine attention with a continuous position bias), as torchvision's
    ShiftedWindowAttention(V2): the image padded to whole windows, each window's positions
    attending to each other."""

    NAME = "attn"
    FRAGMENTS = (
        RELATIVE_POSITION_INDEX,
        RELATIVE_COORDS_TABLE,
        SHIFTED_WINDOW_MASK,
        WINDOW_ATTENTION,
        WINDOW_ATTENTION_V2,
    )
    heads: int = spec_field(Int(min=1, max=1024), doc="number of attention heads")
    window: int = spec_field(Int(min=2, max=1024), 7, "window size in positions (Swin V2: 8)")
    shift: int = spec_field(
        Int(min=0, max=1023),
        0,
        "how far the windows are shifted (window // 2 in every second block, 0 in the others)",
    )
    version: int = spec_field(
        Int(min=1, max=2), 1, "1: Swin's attention; 2: Swin V2's cosine attention"
    )

    def simple(self, x: Shape, ctx: Context, in_sequential: bool) -> Simple:
        if x.kind != "channels_last":
            raise self.error(
                f"window_attention needs a channels-last image (H x W x C) but gets {x.describe()}",
                "put `permute: [0, 2, 3, 1]` before it",
            )
        h, w, c = x.dims
        if c % self.heads:
            raise self.error(f"{c} channels do not divide into {self.heads} heads", key="heads")
        if self.shift >= self.window:
            raise self.error(
                f"a shift of {self.shift} is not less than the window ({self.window})",
                f"use {self.window // 2}, or 0",
                key="shift",
            )
        ctx.use(SHIFTED_WINDOW_MASK, by=self)
        if self.version == 2:
            ctx.use(RELATIVE_COORDS_TABLE, by=self)
        ctx.use(WINDOW_ATTENTION_V2 if self.version == 2 else WINDOW_ATTENTION, by=self)
        use_relative_position_index(ctx, self)
        window = self.window
        size = window * window
        tokens = (h + -h % window) * (w + -w % window)  # padded to whole windows
        offsets = (2 * window - 1) ** 2
        # qkv and proj, then q @ k and the weights @ v in each window
        macs = tokens * 4 * c * c + 2 * tokens * size * c
        params = 4 * c * c + 4 * c
        if self.version == 2:  # the bias MLP on every offset, and a logit scale per head
            macs += offsets * (2 * CPB_HIDDEN + CPB_HIDDEN * self.heads)
            params += 3 * CPB_HIDDEN + CPB_HIDDEN * self.heads + self.heads
        else:
            params += offsets * self.heads
        keywords = {"shift": self.shift} if self.shift or is_symbolic(self.shift) else {}
        name = "ShiftedWindowAttentionV2" if self.version == 2 else "ShiftedWindowAttention"
        ctor = Ref(name)(c, self.heads, window=window, **keywords)
        label = f"window attention {window}x{window}"
        if self.shift and max(h, w) > window:  # one window over the whole image is not shifted
            label += f", shift {self.shift}"
        if self.version == 2:
            label += ", cosine"
        return Simple(x, ctor, label, params, macs)
