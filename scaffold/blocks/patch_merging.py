"""`patch_merging`: Swin's downsampling between stages (Liu et al. 2021): each 2x2 patch of
positions of a channels-last image becomes one position of 4C features, layer-normed and
projected to 2C (Swin V2: projected, then layer-normed), as torchvision's PatchMerging(V2)."""

from __future__ import annotations

from ..shapes import channels_last
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


def _merging(version: int) -> str:
    v2 = version == 2
    name = "PatchMergingV2" if v2 else "PatchMerging"
    doc = (
        "Swin V2's downsampling (Liu et al. 2022): each 2x2 patch of an (N, H, W, C) image one\n"
        "    position of 4C features, projected to 2C, then layer-normed."
        if v2
        else "Swin's downsampling (Liu et al. 2021): each 2x2 patch of an (N, H, W, C) image one\n"
        "    position of 4C features, layer-normed and projected to 2C."
    )
    return f'''
class {name}(nn.Module):
    """{doc}"""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm({"2" if v2 else "4"} * dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[1:3]
        if h % 2 or w % 2:
            x = F.pad(x, (0, 0, 0, w % 2, 0, h % 2))
        # (N, H / 2, W / 2, 4C)
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], -1)
        return {"self.norm(self.reduction(x))" if v2 else "self.reduction(self.norm(x))"}
'''


PATCH_MERGING = Fragment("PatchMerging", _merging(1), uses=("torch", "nn", "F"))
PATCH_MERGING_V2 = Fragment("PatchMergingV2", _merging(2), uses=("torch", "nn", "F"))


@unit("patch_merging")
class PatchMerging(SimpleLayer):
    """Swin's patch merging: a channels-last image's 2x2 patches (padded to even sizes) to one
    position each, 4C features projected to 2C."""

    NAME = "merge"
    FRAGMENTS = (PATCH_MERGING, PATCH_MERGING_V2)
    version: int = spec_field(
        Int(min=1, max=2), 1, "1: layer norm, then the projection; 2 (Swin V2): the other way"
    )

    def simple(self, x: Shape, ctx: Context, in_sequential: bool) -> Simple:
        if x.kind != "channels_last":
            raise self.error(
                f"patch_merging needs a channels-last image (H x W x C) but gets {x.describe()}",
                "put `permute: [0, 2, 3, 1]` before it",
            )
        h, w, c = x.dims
        out = channels_last((h + 1) // 2, (w + 1) // 2, 2 * c)
        ctx.use(PATCH_MERGING_V2 if self.version == 2 else PATCH_MERGING, by=self)
        ctor = Ref("PatchMergingV2" if self.version == 2 else "PatchMerging")(c)
        params = 8 * c * c + 2 * (2 * c if self.version == 2 else 4 * c)
        macs = out.dims[0] * out.dims[1] * 4 * c * 2 * c
        return Simple(out, ctor, "patch merging", params, macs)
