"""ECA: efficient channel attention (Wang et al., ECA-Net, CVPR 2020), the team's `- eca`.

Each channel is scaled by a sigmoid of a 1-D convolution across the channel means, k neighbouring
channels at a time: k parameters in all, where squeeze-excitation has two linear layers.
"""

import math

import torch
from torch import nn


class ECA(nn.Module):
    """Efficient channel attention: x times sigmoid(conv1d(the channel means of x)).

    Args:
        channels: the number of input channels C.
        kernel: the odd size k of the convolution; default: the paper's rule, the odd number
            nearest (log2(C) + 1) / 2.
    """

    def __init__(self, channels: int, kernel: int | None = None) -> None:
        super().__init__()
        if kernel is None:  # eq. 12: k = |log2(C) / 2 + 1 / 2|, made odd
            kernel = int(abs((math.log2(channels) + 1) / 2))
            kernel += 1 - kernel % 2
        if kernel % 2 == 0:
            raise ValueError(f"the kernel must be odd to keep each channel centred, got {kernel}")
        self.conv = nn.Conv1d(1, 1, kernel, padding=kernel // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x.mean(dim=(2, 3))  # (N, C): the channel means
        y = self.conv(y.unsqueeze(1)).squeeze(1)  # (N, C): each from its k neighbours
        return x * torch.sigmoid(y)[:, :, None, None]
