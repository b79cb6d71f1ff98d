"""EfficientNet-B0, -B1 (the same blueprint with more blocks, at 240 px) and EfficientNetV2-S as
bundled blueprints: each generated model takes torchvision's state_dict strictly and computes the
same function (tests/generated.py: agrees_with_torchvision), with one class per block kind."""

from __future__ import annotations

import pytest
from conftest import REPO
from generated import agrees_with_torchvision, build, model_module

FAMILY = ["efficientnet_b0", "efficientnet_b1", "efficientnet_v2_s"]


@pytest.mark.parametrize("arch", FAMILY)
def test_efficientnet_loads_torchvision_strictly_and_agrees(arch):
    blueprint, plan = build(REPO / "blueprints" / f"{arch}.yaml")
    assert plan.pretrained[0].arch == arch
    # at 64 px (any size works: global pooling), a few seconds on the CPU
    agrees_with_torchvision(blueprint, arch, size=64)


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
