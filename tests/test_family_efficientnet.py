"""EfficientNet-B0, -B1 (the same blueprint with more blocks, at 240 px) and EfficientNetV2-S as
bundled blueprints: each generated model takes torchvision's state_dict strictly and computes the
same function (tests/generated.py: agrees_with_torchvision), with one class per block kind."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision
from conftest import REPO
from generated import agrees_with_torchvision, build, model_module

from scaffold.blueprint import load_blueprint
from scaffold.errors import BlueprintError
from scaffold.plan import build_plan

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
        ("efficientnet_b0", ["DropPath", "SqueezeExcitation", "MBConv"]),
        ("efficientnet_v2_s", ["DropPath", "FusedMBConv", "SqueezeExcitation", "MBConv"]),
    ],
)
def test_efficientnet_has_one_class_per_block_kind_and_torchvisions_forward(arch, classes):
    """MBConv1 and MBConv6 are one class, as in torchvision: the expansion is a group with
    `when: $expansion != 1`, built as torchvision builds it (`if ...: layers.append(...)`)."""
    blueprint, plan = build(REPO / "blueprints" / f"{arch}.yaml")
    assert [fragment.name for fragment, _ in plan.fragments] == classes
    code = plan.fragments[-1][0].code(frozenset())
    assert "        layers: list[nn.Module] = []\n        if expansion != 1:\n" in code
    assert "        self.block = nn.Sequential(*layers)\n" in code
    # torchvision's MBConv.forward: the block, then (where the shape stays) stochastic depth and
    # the input added in place; nothing else runs per block
    assert code.rstrip("\n").endswith(
        "        identity = x\n"
        "        x = self.block(x)\n"
        "        if self.use_residual:\n"
        "            x = self.drop_path(x)\n"
        "            x += identity\n"
        "        return x"
    )
    assert "self.use_residual = stride == 1 and in_channels == out" in code


EXPAND = """
expand:
  params: {out: ~, expansion: 1, stride: 1}
  layers:
    - sequential:
        name: block
        layers:
          - sequential:
              when: $expansion != 1
              layers: [conv: {out: $in_channels * expansion, kernel: 1, stride: $stride}, relu]
          - conv: {out: $out, kernel: 1}
"""


def test_a_group_left_out_where_its_condition_fails_must_keep_the_shape_there(tmp_path):
    def blueprint_with(layers: str) -> Path:
        path = tmp_path / "bp.yaml"
        path.write_text(
            "name: when\ninput: {channels: 3, height: 8, width: 8}\nblocks:"
            + EXPAND.replace("\n", "\n  ")
            + f"\nmodel:\n  layers: {layers}\ntrain: {{epochs: 1}}\n"
        )
        return path

    plan = build_plan(
        load_blueprint(
            blueprint_with(
                "[expand: {out: 3}, expand: {out: 8, expansion: 2}, flatten, linear: classes]"
            )
        )
    )
    assert [f.name for f, _ in plan.fragments] == ["Expand"]  # one class for both uses
    modules = {row.module for row in plan.rows}
    assert "expand1.block.1" not in modules and "expand1.block.0.weight" not in modules
    assert {"expand1.block.0", "expand2.block.0.0", "expand2.block.1"} <= modules
    bad = blueprint_with("[conv: 4, expand: {out: 8, stride: 2}, flatten, linear: classes]")
    with pytest.raises(BlueprintError) as caught:
        build_plan(load_blueprint(bad))
    message = str(caught.value)
    assert (
        message.startswith(f"{bad}:10:") and f"(in the block 'expand' used at {bad}:16:" in message
    )
    assert "must keep its input's shape there" in message
    alone = blueprint_with(
        "[sequential: {when: false, layers: [conv: 4]}, flatten, linear: classes]"
    )
    with pytest.raises(BlueprintError, match="this one is in none"):
        build_plan(load_blueprint(alone))
