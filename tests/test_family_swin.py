"""Swin (swin_t) and Swin V2 (swin_v2_t) as bundled blueprints: each generated model loads
torchvision's state_dict strictly and computes the same function, and the window attention and
patch merging units refuse what they cannot do."""

from __future__ import annotations

import pytest
import torch
from generated import REPO, agrees_with_torchvision, model_module
from test_language import blueprint

from scaffold.blueprint import load_blueprint
from scaffold.errors import BlueprintError
from scaffold.plan import build_plan


# Smaller than the weights' sizes, and chosen so that every path of the attention is taken: 64 px
# (swin_t, windows of 7) and 72 px (swin_v2_t, windows of 8) give stages of 16 and 8 (18 and 9)
# positions, padded to whole windows and shifted, then ones within one window, not shifted.
@pytest.mark.parametrize("arch, size", [("swin_t", 64), ("swin_v2_t", 72)])
def test_bundled_blueprint_is_torchvisions_model(arch, size):
    agrees_with_torchvision(load_blueprint(REPO / "blueprints" / f"{arch}.yaml"), arch, size=size)


def test_stochastic_depth_grows_with_the_block_as_torchvisions():
    """p * block / (blocks - 1), 0.2 at the last of 12 blocks: each block's two DropPaths."""
    import torchvision

    bp = load_blueprint(REPO / "blueprints" / "swin_t.yaml")
    with torch.device("meta"):
        ours = model_module(bp)[build_plan(bp).class_name]()
        theirs = torchvision.models.swin_t()
    theirs_p = [m.stochastic_depth.p for m in theirs.modules() if hasattr(m, "stochastic_depth")]
    ours_blocks = [m for m in ours.modules() if type(m).__name__ == "SwinTransformerBlock"]
    assert len(ours_blocks) == len(theirs_p) == 12
    for block, p in zip(ours_blocks, theirs_p):
        assert block.drop_path1.p == block.drop_path2.p == pytest.approx(p, abs=5e-5)


def test_a_class_with_several_residuals_numbers_their_drop_paths():
    bp = blueprint(
        "[conv: 8, permute: [0, 2, 3, 1], twice, permute: [0, 3, 1, 2], flatten, linear: classes]",
        """
twice:
  params: {p: 0.1}
  layers:
    - residual: {body: [layer_norm, linear: $in_channels], drop_path: $p}
    - residual: {body: [layer_norm, linear: $in_channels], drop_path: $p}
""",
    )
    code = model_module(bp)["Twice"].__init__.__code__.co_names
    assert {"drop_path1", "drop_path2"} <= set(code) and "drop_path" not in code


WINDOW = (
    "[conv: {out: 8, kernel: 2, stride: 2}, permute: [0, 2, 3, 1], LAYER, flatten, linear: classes]"
)


@pytest.mark.parametrize(
    "layer, message",
    [
        ("window_attention: {heads: 3}", "8 channels do not divide into 3 heads"),
        ("window_attention: {heads: 2, window: 4, shift: 4}", "a shift of 4 is not less than"),
        ("patch_merging: {version: 3}", "version"),
    ],
)
def test_window_attention_and_patch_merging_refuse_what_they_cannot_do(layer, message):
    with pytest.raises(BlueprintError, match=message):
        build_plan(blueprint(WINDOW.replace("LAYER", layer)))


@pytest.mark.parametrize("layer", ["window_attention: {heads: 2}", "patch_merging"])
def test_swin_layers_need_a_channels_last_image(layer):
    bp = blueprint(f"[conv: 8, {layer}, flatten, linear: classes]")
    with pytest.raises(BlueprintError, match=r"channels-last image .*\n  hint: put `permute"):
        build_plan(bp)


def test_window_attention_is_scaled_dot_product_attention_with_the_bias_as_its_mask():
    plan = build_plan(load_blueprint(REPO / "blueprints" / "swin_v2_t.yaml"))
    code = "\n".join(fragment.code(flags) for fragment, flags in plan.fragments)
    assert "F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=1.0)" in code
    assert "class ShiftedWindowAttention(" not in code  # only the version the blueprint uses
    assert "class PatchMerging(" not in code and "class PatchMergingV2(" in code
