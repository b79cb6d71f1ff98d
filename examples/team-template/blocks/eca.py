"""`eca`: efficient channel attention (Wang et al., ECA-Net, CVPR 2020), a block this team adds in
its own template: this file, in `blocks/` beside `copier.yml`, is all it takes.

ECA scales each channel by sigmoid(conv1d(channel means)): a 1-D convolution of size k across
neighbouring channels instead of squeeze-excitation's two linear layers, so it has only k
parameters. k follows from the channels C as in the paper: the odd number nearest
(log2(C) + 1) / 2, or is given. The module is the paper's official code (BangguWu/ECANet).
"""

from __future__ import annotations

import math

from .base import (
    HOLE,
    Context,
    Fragment,
    Int,
    Layer,
    Ref,
    Shape,
    spec_field,
    this,
    unit,
)

ECA = Fragment(
    "ECA",
    '''
class ECA(nn.Module):
    """Efficient channel attention (Wang et al. 2020): each channel scaled by a sigmoid of a 1-D
    convolution over the channel means, k neighbouring channels at a time."""

    def __init__(self, kernel_size: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv1d(
            1, 1, kernel_size=kernel_size, padding=(kernel_size - 1) // 2, bias=False
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x.mean(dim=(2, 3))  # (N, C): the channel means
        y = self.conv(y.unsqueeze(1)).squeeze(1)  # (N, C): each from its k neighbours
        return x * torch.sigmoid(y)[:, :, None, None]
''',
)


def adaptive_kernel(channels: int, gamma: int = 2, b: int = 1) -> int:
    """The paper's k = |log2(C) / gamma + b / gamma|, made odd (eq. 12)."""
    t = int(abs((math.log2(channels) + b) / gamma))
    return t if t % 2 else t + 1


@unit("eca")
class EfficientChannelAttention(Layer):
    """Efficient channel attention (Wang et al. 2020): channels scaled by a 1-D convolution of
    their means."""

    SHORTHAND = "kernel"
    NAME = "eca"
    FRAGMENTS = (ECA,)
    kernel: int | None = spec_field(
        Int(min=1, max=99), None, "odd kernel size k (default: from the channels, as the paper)"
    )

    def plan(self, x: Shape, ctx: Context) -> Shape:
        module = self._module(x, ctx)
        name = ctx.name(self)
        ctx.module(name, module)
        self._row(ctx, name, x, 0)
        ctx.forward.start(this(name)(HOLE), x.comment())
        return x

    def entries(self, x: Shape, ctx: Context, prefix: str, start: int, depth: int):
        module = self._module(x, ctx)
        self._row(ctx, f"{prefix}.{start}", x, depth)
        return [(module, x)]

    def _kernel(self, x: Shape) -> int:
        return self.kernel or adaptive_kernel(x.dims[0])

    def _module(self, x: Shape, ctx: Context):
        self.need_image(x)
        if self.kernel is not None and self.kernel % 2 == 0:
            raise self.error(
                f"the kernel must be odd so that every channel stays centred, got {self.kernel}",
                f"use {self.kernel + 1}, or leave it out to follow the paper",
                key="kernel",
                at_key=True,
            )
        ctx.use(ECA, by=self)
        return Ref("ECA")(kernel_size=self._kernel(x))

    def _row(self, ctx: Context, module: str, x: Shape, depth: int) -> None:
        k = self._kernel(x)
        # the convolution slides over the C channel means: C outputs of k products each
        ctx.row(module, f"eca k={k}", x, k, x.dims[0] * k, depth)
