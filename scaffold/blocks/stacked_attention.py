"""`stacked_attention`: the SAN's attention hops (Yang et al. 2016), where the image regions and
the question vector meet: the first layer of a two-input model's head."""

from __future__ import annotations

from .base import (
    Assign,
    Channels,
    Context,
    Enum,
    Float,
    Fragment,
    Int,
    Layer,
    Ref,
    Shape,
    Var,
    spec_field,
    this,
    unit,
    vector,
)


def _attention(flags) -> str:
    official = "official" in flags
    if official:
        form = """
    The official code's form: h = tanh(W_I v) + tanh(W_Q u + b_A); p = softmax(W_P h + b_P)."""
        hidden = """        image = torch.tanh(self.image_proj(v))  # (N, R, k)
        question = torch.tanh(self.question_proj(u)).unsqueeze(1)  # (N, 1, k)
        h = image + question"""
    else:
        form = """
    The paper's form: h = tanh(W_I v + (W_Q u + b_A)), the question added to every region;
    p = softmax(W_P h + b_P) over the regions."""
        hidden = """        # (N, R, k)
        h = torch.tanh(self.image_proj(v) + self.question_proj(u).unsqueeze(1))"""
    return f'''
class AttentionHop(nn.Module):
    """One attention layer of a SAN (Yang et al. 2016, equations 15-16).
{form}
    """

    def __init__(self, dim: int, attention_dim: int, dropout: float) -> None:
        super().__init__()
        self.image_proj = nn.Linear(dim, attention_dim, bias=False)  # W_I,A
        self.question_proj = nn.Linear(dim, attention_dim)  # W_Q,A and b_A
        self.score = nn.Linear(attention_dim, 1)  # W_P and b_P
        self.dropout = nn.Dropout(dropout)

    def forward(self, v: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
{hidden}
        return torch.softmax(self.score(self.dropout(h)).squeeze(2), dim=1)  # (N, R)


class StackedAttention(nn.Module):
    """K attention hops (Yang et al. 2016, equations 17-19): u_0 = v_Q, and each hop adds the
    attended image vector, u_k = sum_i p_i v_i + u_{{k-1}}. Returns u_K and every hop's attention map.
    """

    def __init__(
        self, dim: int, attention_dim: int = 512, hops: int = 2, dropout: float = 0.5
    ) -> None:
        super().__init__()
        self.hops = nn.ModuleList(
            AttentionHop(dim, attention_dim, dropout) for _ in range(hops)
        )

    def forward(
        self, v: torch.Tensor, q: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        u = q
        maps = []
        for hop in self.hops:
            p = hop(v, u)  # (N, R)
            u = torch.bmm(p.unsqueeze(1), v).squeeze(1) + u  # (N, d)
            maps.append(p)
        return u, torch.stack(maps, dim=1)
'''


STACKED_ATTENTION = Fragment(
    "StackedAttention", _attention, defines=("AttentionHop", "StackedAttention")
)


@unit("stacked_attention", "attention")
class StackedAttention(Layer):
    """Stacked attention (Yang et al. 2016): K hops of question-guided attention over the image regions."""

    SHORTHAND = "hops"
    NAME = "attention"
    FRAGMENTS = (STACKED_ATTENTION,)
    hops: int = spec_field(Int(min=1, max=8), 2, "number of attention layers K")
    attention: int = spec_field(Channels, 512, "size k of the attention hidden layer")
    dropout: float = spec_field(Float(min=0, max=1), 0.5, "dropout on the attention hidden layer")
    form: str = spec_field(
        Enum("paper", "official"),
        "paper",
        "paper: tanh(W_I v + W_Q u + b); official code: tanh(W_I v) + tanh(W_Q u + b)",
    )

    def plan(self, x: Shape, ctx: Context) -> Shape:
        """Anywhere but the start of model.head: it needs both branches, which meet only there."""
        raise self.error(
            "stacked_attention combines image regions with a question, so it can only be the "
            "first layer of model.head",
            "give `input` an image and a question, and start `model.head` with it",
        )

    def join(self, v: Shape, q: Shape, ctx: Context) -> Shape:
        """The image regions `v` and the question vector `q` meet: forward gets `x, attention`."""
        if v.kind != "sequence":
            raise self.error(
                "stacked_attention needs image regions (R x d), but the image branch gives "
                f"{v.describe()}",
                "end the image branch with `project_regions: {out: d}`",
            )
        if q.kind != "vector":
            raise self.error(
                "stacked_attention needs a question vector, but the question branch gives "
                f"{q.describe()}",
                "end the question branch with `lstm` or `text_cnn`",
            )
        regions, d = v.dims
        if q.dims[0] != d:
            raise self.error(
                f"the image regions have {d} features but the question vector has {q.dims[0]}; "
                "attention adds them, so they must be equal",
                f"set project_regions out to {q.dims[0]}, or the question size to {d}",
            )
        k = self.attention
        name = ctx.name(self)
        ctx.use(STACKED_ATTENTION, *(["official"] if self.form == "official" else []), by=self)
        per_hop = 2 * d * k + k + k + 1
        mark = ctx.mark()
        for hop in range(self.hops):
            # image and question projections, the scores, and the attention-weighted sum
            macs = regions * d * k + d * k + regions * k + regions * d
            ctx.row(f"{name}.hops.{hop}", f"attention hop {hop + 1}", vector(d), per_hop, macs, 1)
        ctx.group(mark, name, f"stacked attention x{self.hops}", vector(d))
        ctx.module(
            name,
            Ref("StackedAttention")(d, k, hops=self.hops, dropout=self.dropout),
        )
        ctx.forward.statement(
            Assign(
                ("x", "attention"),
                this(name)(Var("v"), Var("q")),
                f"(N, {d}), attention (N, {self.hops}, {regions})",
            )
        )
        return vector(d)
