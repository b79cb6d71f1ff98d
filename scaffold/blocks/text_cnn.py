"""`text_cnn`: the SAN's question CNN (Yang et al. 2016, section 3.2)."""

from __future__ import annotations

from typing import Any

from .base import (
    HOLE,
    Channels,
    Context,
    Fragment,
    Int,
    Layer,
    ListOf,
    OneOf,
    Ref,
    Shape,
    Var,
    spec_field,
    this,
    unit,
    vector,
)

QUESTION_CNN = Fragment(
    "QuestionCNN",
    '''
class QuestionCNN(nn.Module):
    """Unigram, bigram and trigram convolutions over the word vectors, tanh, and the maximum over
    each question's own words, concatenated (Yang et al. 2016, section 3.2).

    Padding cannot leak in: the padding word's embedding is zero, exactly like the convolutions'
    zero padding, and positions past a question's last word are masked before the maximum.
    """

    def __init__(
        self,
        embedding_dim: int,
        kernels: tuple = (1, 2, 3),
        channels: tuple = (256, 512, 512),
    ) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Conv1d(embedding_dim, c, kernel_size=k, padding=k - 1)
            for k, c in zip(kernels, channels)
        )

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        x = x.transpose(1, 2)  # (N, E, L)
        features = []
        for conv in self.convs:
            y = torch.tanh(conv(x))  # (N, C, L + k - 1)
            # windows that still touch a real word
            last = lengths + conv.kernel_size[0] - 1
            positions = torch.arange(y.size(2), device=y.device)
            y = y.masked_fill(
                (positions[None, :] >= last[:, None])[:, None, :], float("-inf")
            )
            features.append(y.amax(dim=2))
        return torch.cat(features, dim=1)
''',
)


@unit("text_cnn", "question_cnn")
class TextCNN(Layer):
    """Unigram/bigram/trigram convolutions over the embedded words, tanh, max over time, concatenated."""

    NAME = "question_cnn"
    NEEDS_LENGTHS = True  # forward computes each question's length first
    FRAGMENTS = (QUESTION_CNN,)
    kernels: list = spec_field(ListOf(Int(min=1, max=10), min_items=1), [1, 2, 3], "n-gram sizes")
    channels: Any = spec_field(
        OneOf(Channels, ListOf(Channels, min_items=1)),
        [256, 512, 512],
        "filters per n-gram size (one number for all, or one per kernel)",
    )

    def plan(self, x: Shape, ctx: Context) -> Shape:
        if x.kind != "words":
            raise self.error(
                "text_cnn needs a sequence of word vectors (after an embedding), but gets "
                f"{x.describe()}"
            )
        channels = (
            self.channels
            if isinstance(self.channels, list)
            else [self.channels] * len(self.kernels)
        )
        if len(channels) != len(self.kernels):
            raise self.error(
                f"{len(self.kernels)} kernels but {len(channels)} channel counts",
                "give one channel count per kernel, or a single number for all",
                key="channels",
                at_key=True,
            )
        length, features = x.dims
        params = sum(c * features * k + c for k, c in zip(self.kernels, channels))
        # a convolution padded by k - 1 on both sides gives length + k - 1 outputs
        macs = sum((length + k - 1) * c * features * k for k, c in zip(self.kernels, channels))
        out = vector(sum(channels))
        name = ctx.name(self)
        ctx.use(QUESTION_CNN, by=self)
        ctx.module(
            name,
            Ref("QuestionCNN")(features, kernels=tuple(self.kernels), channels=tuple(channels)),
        )
        ctx.row(name, "text cnn " + "/".join(map(str, self.kernels)) + "-gram", out, params, macs)
        ctx.forward.start(this(name)(HOLE, Var("lengths")), out.comment())
        return out
