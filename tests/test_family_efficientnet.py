"""EfficientNet-B0, -B1 (the same blueprint with more blocks, at 240 px) and EfficientNetV2-S as
bundled blueprints: each generated model takes torchvision's state_dict strictly and computes the
same function (tests/generated.py: agrees_with_torchvision), with one class per block kind."""

from __future__ import annotations

import pytest
import torch
import torchvision
from conftest import REPO
from generated import agrees_with_torchvision, build, model_module

FAMILY = ["efficientnet_b0", "efficientnet_b1", "efficientnet_v2_s"]


@pytest.mark.parametrize("arch", FAMILY)
def test_efficientnet_loads_torchvision_strictly_and_agrees(arch):
    blueprint, plan = build(REPO / "blueprints" / f"{arch}.yaml")
    assert plan.pretrained[0].arch == arch
    # at 64 px (any size works: global pooling), a few seconds on the CPU
    agrees_with_torchvision(blueprint, arch, size=64)


@pytest.mark.parametrize("arch", FAMILY)
def test_efficientnet_drops_blocks_in_training_as_torchvision_does(arch):
    """Stochastic depth 0.2 * block / blocks, block by block: in training, with the same seed, the
    same samples' blocks are dropped (the same random draws, in the same order) and the outputs
    agree."""
    blueprint, plan = build(REPO / "blueprints" / f"{arch}.yaml")
    model_class = model_module(blueprint)[plan.class_name]
    torch.manual_seed(0)
    theirs = torchvision.models.get_model(arch, weights=None).train()
    ours = model_class().train()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    drops = [m for m in ours.modules() if type(m).__name__ == "DropPath"]
    depths = [m.p for m in theirs.modules() if type(m).__name__ == "StochasticDepth"]
    assert [m.p for m in drops] == pytest.approx(depths, abs=5e-5)  # written with 4 decimals
    for module, p in zip(drops, depths):  # B1's 0.2 / 23 steps: batch norm on 4 samples in
        module.p = p  # training magnifies the last digits' difference past atol
    x = torch.randn(4, 3, 32, 32)
    torch.manual_seed(1)
    expected = theirs(x)
    torch.manual_seed(1)
    torch.testing.assert_close(ours(x), expected, rtol=0, atol=1e-4)


@pytest.mark.parametrize(
    ("arch", "classes"),
    [
        ("efficientnet_b0", ["DropPath", "SqueezeExcitation", "MBConv1", "MBConv"]),
        (
            "efficientnet_v2_s",
            ["DropPath", "FusedMBConv1", "FusedMBConv", "SqueezeExcitation", "MBConv"],
        ),
    ],
)
def test_efficientnet_has_one_class_per_block_kind_and_torchvisions_forward(arch, classes):
    blueprint, plan = build(REPO / "blueprints" / f"{arch}.yaml")
    assert [fragment.name for fragment, _ in plan.fragments] == classes
    code = plan.fragments[-1][0].code(frozenset())
    # torchvision's MBConv.forward: the block, then (where the shape stays) stochastic depth and
    # the input added; nothing else runs per block
    assert code.rstrip("\n").endswith(
        "        identity = x\n"
        "        x = self.block(x)\n"
        "        return self.drop_path(x) + identity if self.use_residual else x"
    )
    assert "self.use_residual = stride == 1 and in_channels == out" in code
    assert model_module(blueprint)["EfficientNet"]
