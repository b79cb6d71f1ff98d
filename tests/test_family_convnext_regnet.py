"""ConvNeXt (tiny, small) and RegNet (Y-400MF, X-400MF) as bundled blueprints: each generated model
loads torchvision's state_dict strictly and computes the same function."""

from __future__ import annotations

import pytest
import torch
import yaml
from generated import REPO, agrees_with_torchvision, model_module
from test_counts import check_counts
from test_language import blueprint, model_of

from scaffold.blueprint import blueprint_from_data, load_blueprint
from scaffold.errors import BlueprintError
from scaffold.plan import build_plan

# at 64 px: every stage still has at least 2x2 positions, and a case takes a few seconds on CPU
FAMILIES = ["convnext_tiny", "convnext_small", "regnet_y_400mf", "regnet_x_400mf"]


@pytest.mark.parametrize("arch", FAMILIES)
def test_bundled_blueprint_is_torchvisions_model(arch):
    agrees_with_torchvision(load_blueprint(REPO / "blueprints" / f"{arch}.yaml"), arch, size=64)


# --- what the families needed of the language ---------------------------------------------------

STAGE = """
bottleneck:
  params: {out: ~, stride: 1}
  layers:
    - residual:
        body: [conv: {out: $out, stride: $stride, padding: 1, bias: false}, batch_norm]
        shortcut:
          - sequential: {name: proj, layers: [conv: {out: $out, kernel: 1, stride: $stride, bias: false}, batch_norm]}
        when: $stride != 1 or in_channels != out
    - relu
"""


def test_repeats_named_with_i_are_keyed_from_0_and_a_named_shortcut_keeps_its_name():
    """RegNet's `block1-0`, `block1-1` and its `proj`: None where the shape stays."""
    bp = blueprint(
        """
- sequential:
    name: block1
    layers: [repeat: {times: 2, layer: {bottleneck: {out: 16}}, first: {stride: 2}, names: "block1-{i}"}]
- global_avgpool
- flatten
- linear: classes
""",
        STAGE,
    )
    check_counts(bp)
    plan, namespace, model = model_of(bp)
    assert list(model.block1._modules) == ["block1-0", "block1-1"]
    first, second = model.block1
    assert isinstance(first.proj, torch.nn.Sequential) and second.proj is None
    assert "identity = x if self.proj is None else self.proj(x)" in plan.fragments[-1][0].source
    keys = set(model.state_dict())
    assert {"block1.block1-0.proj.0.weight", "block1.block1-0.proj.1.running_mean"} <= keys
    assert not any(k.startswith("block1.block1-1.proj") for k in keys)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


@pytest.mark.parametrize("names", ["block 1-{i}", "block{j}", "{i}{i}"])
def test_repeat_names_are_an_identifier_or_one_i_placeholder(names):
    bp = f"[repeat: {{times: 2, layer: relu, names: '{names}'}}, flatten, linear: classes]"
    with pytest.raises(BlueprintError, match="names"):
        build_plan(blueprint(bp))


def test_no_weight_decay_on_norm_takes_layer_norms():
    """ConvNeXt has no batch norm: `norm` leaves its layer norms out of the weight decay."""
    data = {
        "name": "ln",
        "input": {"channels": 3, "height": 32, "width": 32},
        "model": {"layers": yaml.safe_load("[conv: 8, layer_norm, flatten, linear: classes]")},
        "data": {"classes": 10},
        "train": {
            "epochs": 1,
            "optimizer": {"name": "adamw", "lr": 1e-3, "weight_decay": 0.05},
            "no_weight_decay": ["norm"],
        },
    }
    build_plan(blueprint_from_data(data))


@pytest.mark.parametrize("arch", ["convnext_tiny", "convnext_small"])
def test_convnext_stochastic_depth_grows_as_torchvisions(arch):
    """Each block's drop probability is torchvision's `p * block / (blocks - 1)` (to 4 places)."""
    import torchvision

    bp = load_blueprint(REPO / "blueprints" / f"{arch}.yaml")
    with torch.device("meta"):
        ours = model_module(bp)[build_plan(bp).class_name]()
        theirs = torchvision.models.get_model(arch, weights=None)
    ours_p = [m.p for m in ours.modules() if type(m).__name__ == "DropPath"]
    theirs_p = [m.p for m in theirs.modules() if type(m).__name__ == "StochasticDepth"]
    assert len(ours_p) == len(theirs_p) == (18 if arch == "convnext_tiny" else 36)
    assert ours_p == pytest.approx(theirs_p, abs=1e-4)
