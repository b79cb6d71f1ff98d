"""A Vision Transformer's tokens (Dosovitskiy et al. 2021): `flatten_patches` (an image's
positions, e.g. a patch convolution's outputs, as a sequence of vectors), `class_token` (a learned
vector put before them), `position_embedding` (a learned vector added to each) and `select_token`
(one vector taken back out: the class token's, for the classifier). torchvision's names
(`class_token`, `pos_embedding`) and shapes, so its ViT weights load."""

from __future__ import annotations

from .base import (
    HOLE,
    BinOp,
    Context,
    Index,
    Int,
    Layer,
    Lit,
    Shape,
    Simple,
    SimpleLayer,
    Slice,
    nn,
    sequence,
    spec_field,
    this,
    torch,
    unit,
    vector,
)

SEQUENCES = ("sequence", "words")  # (L, F): one vector per position


def _need_sequence(layer: Layer, x: Shape) -> None:
    if x.kind not in SEQUENCES:
        hint = (
            "turn the image into a sequence first: `- flatten_patches`" if x.kind == "image" else ""
        )
        raise layer.error(f"{layer.KIND} needs a sequence of vectors but gets {x.describe()}", hint)


@unit("flatten_patches", "patches")
class FlattenPatches(SimpleLayer):
    """Each position of a C x H x W image as one of H*W vectors of C features, row by row
    (ViT's patches after its patch convolution): (N, C, H, W) -> (N, H*W, C)."""

    NAMED_ENTRY = False

    def simple(self, x: Shape, ctx: Context, in_sequential: bool) -> Simple:
        self.need_image(x)
        c, h, w = x.dims
        call = HOLE.attr("flatten")(2).attr("transpose")(1, 2)
        return Simple(sequence(h * w, c), None, f"patches {h}x{w}", call=call, joins=True)

    entries = None


@unit("class_token")
class ClassToken(Layer):
    """A learned vector put before the sequence (BERT's and ViT's class token), starting at 0:
    (N, L, F) -> (N, L + 1, F)."""

    NAME = "class_token"

    def plan(self, x: Shape, ctx: Context) -> Shape:
        _need_sequence(self, x)
        length, dim = x.dims
        name = ctx.name(self)
        out = Shape(x.kind, (length + 1, dim))
        ctx.module(name, nn.Parameter(torch.zeros(1, 1, dim)))
        ctx.row(name, "class token", out, dim)
        ctx.forward.flush()
        current = ctx.forward.current
        token = this(name).attr("expand")(current.attr("shape")[0], -1, -1)
        ctx.forward.start(torch.cat(Lit([token, current]), dim=1), out.comment())
        return out


@unit("position_embedding", "pos_embedding")
class PositionEmbedding(Layer):
    """A learned vector added to each position of the sequence (its length is fixed by the input
    size), starting from a normal distribution of std 0.02 (BERT's and torchvision's)."""

    NAME = "pos_embedding"

    def plan(self, x: Shape, ctx: Context) -> Shape:
        _need_sequence(self, x)
        length, dim = x.dims
        name = ctx.name(self)
        ctx.module(name, nn.Parameter(torch.empty(1, length, dim).attr("normal_")(std=0.02)))
        ctx.row(name, "position embedding", x, length * dim)
        ctx.forward.start(BinOp(HOLE, "+", this(name)), x.comment())
        return x


@unit("select_token")
class SelectToken(SimpleLayer):
    """One position's vector of the sequence, `x[:, index]` (ViT's classifier reads the class
    token's, index 0): (N, L, F) -> (N, F)."""

    SHORTHAND = "index"
    NAMED_ENTRY = False
    index: int = spec_field(Int(min=0, max=1_000_000), 0, "the position, from 0")

    def simple(self, x: Shape, ctx: Context, in_sequential: bool) -> Simple:
        _need_sequence(self, x)
        length, dim = x.dims
        if self.index >= length:
            raise self.error(f"index {self.index} of a sequence of {length}", key="index")
        call = Index(HOLE, Slice(), self.index)
        return Simple(vector(dim), None, f"token {self.index}", call=call)

    entries = None
