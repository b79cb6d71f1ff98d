"""The units and the emitter: model.py's imports and reserved names follow from the blocks a
model uses; code is written from typed values; a unit is imported only when a blueprint uses it."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO
from generated import blueprint_with_layers

from scaffold.blocks.emit import HOLE, BinOp, Forward, Lit, Ref, Slice, Var, nn, this, torch
from scaffold.plan import build_plan

CNN = [{"conv": 8}, "relu", "global_avgpool", "flatten", {"linear": "classes"}]


def test_imports_follow_from_the_code():
    with_relu = build_plan(blueprint_with_layers("a", CNN, size=8)).code
    assert with_relu.imports == [
        "import torch",
        "import torch.nn.functional as F",
        "from torch import nn",
    ]
    in_a_group = [{"sequential": [{"conv": 8}, "relu"]}, *CNN[2:]]
    without = build_plan(blueprint_with_layers("b", in_a_group, size=8)).code
    assert without.imports == ["import torch", "from torch import nn"]  # nn.ReLU, no F
    se = [{"conv": 8}, {"squeeze_excitation": 4}, *CNN[2:]]
    helper = build_plan(blueprint_with_layers("c", se, size=8)).code
    assert "import torch.nn.functional as F" in helper.imports  # SqueezeExcitation's F.relu
    assert helper.defines >= {"SqueezeExcitation", "torch", "nn", "F"}


def test_a_helper_name_is_free_for_the_class_when_the_model_does_not_use_it():
    blueprint = blueprint_with_layers("net", CNN, size=8)
    blueprint.model.class_name = "Bottleneck"
    assert build_plan(blueprint).class_name == "Bottleneck"
    stage = [{"stage": {"block": "bottleneck", "blocks": 1, "channels": 16}}, *CNN[2:]]
    derived = build_plan(blueprint_with_layers("bottleneck", stage, size=8)).class_name
    assert derived == "BottleneckModel"


def test_expressions_are_written_with_the_parentheses_they_need():
    lengths = BinOp(Var("question"), "!=", 0).attr("sum")(1).attr("clamp")(min=1)
    assert lengths.code() == "(question != 0).sum(1).clamp(min=1)"
    assert Ref("VGG16")[Slice(None, -1)].code() == "VGG16[:-1]"
    assert nn.Conv2d(3, 64, kernel_size=(3, 5), padding="same").code() == (
        'nn.Conv2d(3, 64, kernel_size=(3, 5), padding="same")'
    )
    assert Lit((1,)).code() == "(1,)" and Lit(1e-05).code() == "1e-5"
    sequential = nn.Sequential(nn.ReLU(), nn.Flatten(), multiline=True, comments=["a", None])
    assert sequential.lines() == ["nn.Sequential(", "    nn.ReLU(),  # a", "    nn.Flatten(),", ")"]
    assert set(torch.tanh(this("fc")(HOLE)).refs()) == {"torch"}


def test_forward_joins_batch_norm_and_activation_to_their_layer():
    statements: list = []
    forward = Forward(statements, "x", "x")
    forward.start(this("conv1")(HOLE), "(N, 8, 4, 4)", joinable=True)
    forward.join(this("bn1")(HOLE), "(N, 8, 4, 4)")
    forward.join(Ref("F.relu")(HOLE), "(N, 8, 4, 4)")
    forward.start(this("pool")(HOLE), "(N, 8, 2, 2)")
    forward.join(Ref("F.relu")(HOLE), "(N, 8, 2, 2)")  # a pool's line takes no activation
    forward.flush()
    assert [s.code() for s in statements] == [
        "x = F.relu(self.bn1(self.conv1(x)))  # (N, 8, 4, 4)",
        "x = self.pool(x)  # (N, 8, 2, 2)",
        "x = F.relu(x)  # (N, 8, 2, 2)",
    ]


def test_validate_imports_only_the_units_a_blueprint_uses():
    """What keeps `scaffold validate` fast (benchmarks/bench_validate.py measures it)."""
    code = (
        "import sys; from scaffold.cli import _load; _load('blueprints/vgg16.yaml'); "
        "print(sorted(m.rsplit('.', 1)[1] for m in sys.modules if m.startswith('scaffold.blocks.')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "['base', 'emit', 'flatten', 'linear', 'registry', 'vgg']"
