"""MaxViT (Tu et al. 2022) as a bundled blueprint: the generated model loads torchvision's
maxvit_t state_dict strictly and computes the same function; its window and grid attention
(`partition_attention`) agree with torchvision's PartitionAttentionLayer on their own, and a
size that does not divide into windows is refused by name before anything is written."""

from __future__ import annotations

import pytest
import torch
import torchvision
from conftest import REPO
from generated import agrees_with_torchvision, blueprint_with_layers, model_module
from test_counts import check_counts

from scaffold.blueprint import load_blueprint
from scaffold.errors import BlueprintError
from scaffold.plan import build_plan

HEAD = ["global_avgpool", "flatten", {"linear": "classes"}]


def with_attention(fields, size: int):
    """A small model: a 1x1 convolution to 64 channels, the attention, a linear classifier."""
    layers = [{"conv": {"out": 64, "kernel": 1}}, {"partition_attention": fields}, *HEAD]
    return blueprint_with_layers("attention", layers, size=size, classes=10)


@pytest.mark.parametrize("name", ["maxvit_t"])
def test_bundled_maxvit_loads_torchvision_weights_strictly_and_agrees(name):
    """At 224 px, the only size torchvision's maxvit_t takes (every block's input must divide
    into 7x7 windows)."""
    agrees_with_torchvision(load_blueprint(REPO / "blueprints" / f"{name}.yaml"), name)


@pytest.mark.parametrize("partition", ["window", "grid"])
def test_partition_attention_is_torchvisions_partition_attention_layer(partition):
    from torchvision.models.maxvit import PartitionAttentionLayer

    namespace = model_module(with_attention(partition, size=14))
    torch.manual_seed(0)
    theirs = PartitionAttentionLayer(
        in_channels=64,
        head_dim=32,
        partition_size=7,
        partition_type=partition,
        grid_size=(14, 14),
        mlp_ratio=4,
        activation_layer=torch.nn.GELU,
        norm_layer=torch.nn.LayerNorm,
        attention_dropout=0.0,
        mlp_dropout=0.0,
        p_stochastic_dropout=0.0,
    ).eval()
    ours = namespace["PartitionAttentionLayer"](64, head_dim=32, partition=partition).eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(2, 64, 14, 14)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=1e-5)


def test_partition_attention_counts_and_trains():
    """Parameters and multiply-adds as torch counts them (attention through SDPA included), and
    stochastic depth in training keeps the gradients flowing."""
    blueprint = with_attention({"partition": "grid", "drop_path": 0.2}, size=28)
    check_counts(blueprint)
    model = model_module(blueprint)[build_plan(blueprint).class_name]().train()
    torch.manual_seed(0)
    model(torch.randn(8, 3, 28, 28)).sum().backward()
    table = model.attention.attn_layer[1].relative_position_bias_table
    assert table.grad is not None and table.grad.abs().sum() > 0


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"partition": "window"}, "its height and width must divide by the window size 7"),
        ({"partition": "grid", "size": 4}, "must divide by the grid size 4"),
        ({"head_dim": 24}, "64 channels do not divide into heads of 24"),
    ],
)
def test_partition_attention_refuses_sizes_it_cannot_partition(fields, message):
    with pytest.raises(BlueprintError) as caught:
        build_plan(with_attention(fields, size=30))
    assert message in str(caught.value)
    assert "model.layers[1]" in str(caught.value)


def test_maxvit_t_is_torchvisions_size():
    """The blueprint's numbers are torchvision's maxvit_t: 30,919,624 parameters."""
    plan = build_plan(load_blueprint(REPO / "blueprints" / "maxvit_t.yaml"))
    assert plan.total_params == torchvision.models.MaxVit_T_Weights.DEFAULT.meta["num_params"]


def test_a_conditional_shortcut_that_is_one_named_group_takes_its_name():
    """MBConv's `proj` (torchvision's name), None where the block keeps its shape."""
    proj_layers = [
        {"avgpool": {"kernel": 3, "stride": "$stride", "padding": 1}},
        {"conv": {"out": "$out", "kernel": 1}},
    ]
    blocks = {
        "down": {
            "params": {"out": None, "stride": 1},
            "layers": [
                {
                    "residual": {
                        "body": [{"conv": {"out": "$out", "stride": "$stride", "padding": 1}}],
                        "shortcut": [{"sequential": {"name": "proj", "layers": proj_layers}}],
                        "when": "$stride != 1",
                    }
                }
            ],
        }
    }
    layers = [{"down": {"out": 8, "stride": 2}}, {"down": {"out": 8}}, *HEAD]
    blueprint = blueprint_with_layers("proj", layers, size=16, classes=10, blocks=blocks)
    model = model_module(blueprint)[build_plan(blueprint).class_name]()
    assert model.down1.proj[1].weight.shape == (8, 3, 1, 1)
    assert model.down2.proj is None
    assert "down1.proj.1.bias" in model.state_dict()
    check_counts(blueprint)
