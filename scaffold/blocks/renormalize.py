"""`renormalize`: images normalised with one mean and std, normalised with another instead, as
torchvision's `transform_input` of GoogLeNet and Inception v3 (their ImageNet weights were
trained on inputs scaled to [-1, 1], and take ImageNet-normalised ones through it)."""

from __future__ import annotations

from ..presets import NORMALIZE_PRESETS
from .base import Context, Enum, Fragment, Ref, Shape, Simple, SimpleLayer, spec_field, unit

RENORMALIZE = Fragment(
    "Renormalize",
    '''
class Renormalize(nn.Module):
    """Images normalised with `mean` and `std` per channel, normalised with `to_mean` and `to_std`
    instead: (x * std + mean - to_mean) / to_std (torchvision's transform_input)."""

    def __init__(
        self, mean: list[float], std: list[float], to_mean: list[float], to_std: list[float]
    ) -> None:
        super().__init__()
        self.scale = [s / t for s, t in zip(std, to_std)]
        self.shift = [(m - u) / t for m, u, t in zip(mean, to_mean, to_std)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels = [x[:, c : c + 1] * self.scale[c] + self.shift[c] for c in range(x.shape[1])]
        return torch.cat(channels, dim=1)
''',
)


@unit("renormalize")
class Renormalize(SimpleLayer):
    """Images normalised with one preset's mean and std (`source`, the data's `normalize`),
    normalised with another's instead (`target`; `half` is [-1, 1]): torchvision's
    `transform_input`, which GoogLeNet's and Inception v3's ImageNet weights need."""

    NAME = "transform_input"
    FRAGMENTS = (RENORMALIZE,)
    source: str = spec_field(Enum(*NORMALIZE_PRESETS), "imagenet", "the normalisation of the input")
    target: str = spec_field(
        Enum(*NORMALIZE_PRESETS), "half", "the normalisation the layers after expect"
    )

    def simple(self, x: Shape, ctx: Context, in_sequential: bool) -> Simple:
        self.need_image(x)
        mean, std = NORMALIZE_PRESETS[self.source]
        to_mean, to_std = NORMALIZE_PRESETS[self.target]
        if len(mean) != x.dims[0] or len(to_mean) != x.dims[0]:
            raise self.error(
                f"{self.source} ({len(mean)} channels) to {self.target} ({len(to_mean)} channels) "
                f"does not fit the input {x}"
            )
        ctx.use(RENORMALIZE, by=self)
        ctor = Ref("Renormalize")(mean=mean, std=std, to_mean=to_mean, to_std=to_std)
        return Simple(x, ctor, f"renormalize {self.source} -> {self.target}")
