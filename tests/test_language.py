"""The blueprint language composes: residual connections, parallel branches, blocks defined once in
YAML (one class each in model.py) and repeated as torchvision's `_make_layer` does. Each form is
checked for its shapes, for `inspect`'s counts against PyTorch's (parameters exactly, multiply-adds
within 1% of flop_counter / 2, see test_counts), for the generated code run by torch, and for
errors located both where a block is used and on the line of its definition."""

from __future__ import annotations

import textwrap

import pytest
import torch
import torchvision
import yaml
from conftest import REPO
from generated import _model_template, model_module
from test_counts import check_counts

from scaffold.blocks.defined import read_block_file
from scaffold.blueprint import blueprint_from_data, load_blueprint
from scaffold.errors import BlueprintError
from scaffold.plan import build_plan

CBAM = REPO / "examples" / "team-template" / "blocks" / "cbam.yaml"

BASIC = """
basic:
  params: {out: ~, stride: 1}
  layers:
    - residual:
        body:
          - conv: {out: $out, stride: $stride, padding: 1, bias: false}
          - batch_norm
          - relu
          - conv: {out: $out, padding: 1, bias: false}
          - batch_norm
        shortcut: [conv: {out: $out, kernel: 1, stride: $stride, bias: false}, batch_norm]
        when: $stride != 1 or in_channels != out
    - relu
"""

RESNET18 = """
- conv: {out: 64, kernel: 7, stride: 2, padding: 3, bias: false, name: conv1}
- batch_norm: {name: bn1}
- relu
- max_pool: {kernel: 3, stride: 2, padding: 1, name: maxpool}
- repeat: {times: 2, layer: {basic: {out: 64}}}
- repeat: {times: 2, layer: {basic: {out: 128}}, first: {stride: 2}}
- repeat: {times: 2, layer: {basic: {out: 256}}, first: {stride: 2}}
- repeat: {times: 2, layer: {basic: {out: 512}}, first: {stride: 2}}
- adaptive_avg_pool: 1
- flatten
- linear: {out: classes, name: fc}
"""


def blueprint(layers, blocks=None, size: int = 32, classes: int = 10):
    data = {
        "name": "lang",
        "input": {"channels": 3, "height": size, "width": size},
        "model": {"layers": yaml.safe_load(layers) if isinstance(layers, str) else layers},
        "data": {"classes": classes},
        "train": {"epochs": 1},
    }
    if blocks:
        data["blocks"] = yaml.safe_load(blocks) if isinstance(blocks, str) else blocks
    return blueprint_from_data(data)


def model_of(bp):
    plan = build_plan(bp)
    namespace = model_module(bp)
    torch.manual_seed(0)
    return plan, namespace, namespace[plan.class_name]().eval()


def problems_of(bp_or_text, tmp_path=None) -> str:
    with pytest.raises(BlueprintError) as caught:
        if isinstance(bp_or_text, str):
            path = tmp_path / "bp.yaml"
            path.write_text(bp_or_text)
            build_plan(load_blueprint(path))
        else:
            build_plan(bp_or_text)
    return str(caught.value)


# --- residual ---------------------------------------------------------------------------------

RESIDUAL = """
- conv: {out: 16, padding: 1}
- residual:
    body:
      - conv: {out: 16, padding: 1, bias: false}
      - batch_norm
      - relu
      - conv: {out: 16, padding: 1, bias: false}
      - batch_norm
    layer_scale: 1.0e-6
    drop_path: 0.25
- relu
- residual:
    body: [conv: {out: 32, padding: 1, stride: 2}]
    shortcut: [conv: {out: 32, kernel: 1, stride: 2}]
- global_avg_pool
- flatten
- linear: classes
"""


def test_a_residual_adds_its_input_with_layer_scale_and_drop_path():
    bp = blueprint(RESIDUAL)
    check_counts(bp)
    plan, namespace, model = model_of(bp)
    code = "\n".join(plan.code.forward_lines)
    # the merges add in place, as torchvision's blocks do: to a product (layer scale) and to a
    # convolution's output, both new tensors of the block's own
    assert "x = self.drop_path(self.layer_scale * x)  # (N, 16, 32, 32)" in code
    assert "x += identity  # (N, 16, 32, 32)\nx = F.relu(x)" in code
    assert "identity2 = self.conv5(x)" in code and "x += identity2" in code
    assert model.layer_scale.shape == (16, 1, 1)
    assert torch.all(model.layer_scale == 1e-6)
    rows = {row.kind: row for row in plan.rows}
    assert rows["residual"].params == 2 * 16 * 16 * 9 + 2 * 32 + 16  # two convs, two norms, scale
    # stochastic depth: per sample and only in training
    drop = namespace["DropPath"](0.5)
    x = torch.ones(256, 4, 2, 2)
    assert torch.equal(drop.eval()(x), x)
    out = drop.train()(x)
    per_sample = out.flatten(1)
    assert set(per_sample.unique().tolist()) == {0.0, 2.0}
    assert torch.all(per_sample.min(1).values == per_sample.max(1).values)  # whole samples


def _residual_model(body: str, extra: str = ""):
    """A tiny model of one residual (in double precision, in training mode), its forward code."""
    bp = blueprint(
        f"[conv: {{out: 4, padding: 1}}, residual: {{body: {body}{extra}}}, global_avg_pool, "
        "flatten, linear: classes]",
        size=4,
        classes=3,
    )
    plan, _, model = model_of(bp)
    return model.double().train(), "\n".join(plan.code.forward_lines)


@pytest.mark.parametrize(
    ("body", "extra", "in_place"),
    [
        ("[conv: {out: 4, padding: 1}, batch_norm]", "", True),  # torchvision's BasicBlock
        ("[conv: {out: 4, padding: 1}, relu]", "", False),  # ReLU's backward reads its output
        ("[conv: {out: 4, padding: 1}, sigmoid]", "", False),  # so does the sigmoid's
        ("[conv: {out: 4, padding: 1}, dropout: 0.0]", "", False),  # dropout(p=0) is its input
        ("[dropout: 0.0]", "", False),  # the input itself: `x += x` would change the caller's
        ("[sequential: [conv: {out: 4, padding: 1}, batch_norm]]", "", True),  # into groups
        ("[conv: {out: 4, padding: 1}, relu]", ", layer_scale: 0.5", True),  # a new product
        ("[relu]", ", layer_scale: 0.5", True),
    ],
)
def test_a_residual_adds_in_place_only_to_a_new_tensor_no_backward_reads(body, extra, in_place):
    model, code = _residual_model(body, extra)
    assert ("x += identity" in code) == in_place, code
    assert ("+ identity" in code) == (not in_place), code
    x = torch.randn(2, 3, 4, 4, dtype=torch.double, requires_grad=True)
    # the gradients are the out-of-place sum's, to numerical precision; no error in backward
    assert torch.autograd.gradcheck(lambda x: model(x), (x,), fast_mode=True)
    before = x.detach().clone()
    model(x).sum().backward()
    assert torch.equal(x.detach(), before)  # the input is never changed


def test_a_residual_added_only_where_its_arguments_say_adds_in_place_under_an_if():
    blocks = """
    block:
      params: {out: ~, stride: 1, last: batch_norm}
      layers:
        - residual:
            body: [conv: {out: $out, stride: $stride, padding: 1}, $last]
            connect: $stride == 1 and in_channels == out
            drop_path: 0.5
    """
    layers = """
    - conv: 4
    - block: {out: 4}
    - block: {out: 4, last: relu}
    - block: {out: 8, stride: 2}
    - global_avg_pool
    - flatten
    - linear: classes
    """
    bp = blueprint(textwrap.dedent(layers), textwrap.dedent(blocks), size=6, classes=3)
    plan, _, model = model_of(bp)
    classes = {f.name: f.code(frozenset()) for f, _ in plan.fragments}
    assert classes["Block"].endswith(
        "        if self.use_residual:\n            x = self.drop_path(x)\n"
        "            x += identity\n        return x"
    ), classes["Block"]
    # ReLU last: its backward reads its output, so the sum is a new tensor
    assert "return self.drop_path(x) + identity if self.use_residual else x" in classes["Block2"]
    model = model.double().eval()  # drop_path is random in training
    x = torch.randn(2, 3, 6, 6, dtype=torch.double, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: model(x), (x,), fast_mode=True)


def test_an_in_place_merge_inside_a_block_gives_torchvisions_gradients():
    """ResNet-18 from the README's defined block (`x += identity` in BasicBlock) against
    torchvision's, training mode: the same outputs and weight gradients."""
    readme = readme_resnet18()
    bp = blueprint(readme["model"]["layers"], readme["blocks"], size=16, classes=10)
    plan, _, model = model_of(bp)
    block = next(f for f, _ in plan.fragments if f.name == "BasicBlock").code(frozenset())
    assert "        x += identity\n        return F.relu(x)" in block
    reference = torchvision.models.resnet18(num_classes=10)
    model.load_state_dict(reference.state_dict(), strict=True)
    model.train(), reference.train()
    x = torch.randn(2, 3, 16, 16)
    model(x).square().sum().backward()
    reference(x).square().sum().backward()
    ours = dict(model.named_parameters())
    for name, parameter in reference.named_parameters():
        torch.testing.assert_close(ours[name].grad, parameter.grad, rtol=1e-4, atol=1e-5)


def test_a_residual_whose_body_changes_the_shape_names_both_shapes():
    text = problems_of(blueprint("[conv: 8, residual: [conv: {out: 16, stride: 2}], flatten]"))
    assert "the body gives 16x14x14 but the input is 8x30x30" in text
    assert "shortcut" in text  # the hint
    bp = blueprint(
        "[conv: 8, residual: {body: [conv: {out: 16, stride: 2}], shortcut: [conv: 16]}, flatten,"
        " linear: classes]"
    )
    assert "the body gives 16x14x14 but the shortcut gives 16x28x28" in problems_of(bp)


# --- branches ---------------------------------------------------------------------------------

BRANCHES = """
- conv: {out: 16, padding: 1}
- branches:
    - []
    - [conv: {out: 8, kernel: 1}, relu]
    - [conv: {out: 8, kernel: 1}, relu, conv: {out: 8, padding: 1}]
- branches:
    merge: add
    paths: [[], [conv: {out: 32, kernel: 3, padding: 1}]]
- branches:
    merge: mul
    paths: [[], [global_avg_pool, conv: {out: 32, kernel: 1}, sigmoid]]
- global_avg_pool
- flatten
- linear: classes
"""


def test_branches_concatenate_add_and_gate_and_an_empty_path_is_the_input():
    bp = blueprint(BRANCHES)
    check_counts(bp)
    plan, _, model = model_of(bp)
    code = "\n".join(plan.code.forward_lines)
    assert "x = torch.cat([x, F.relu(self.conv2(x)), branch], dim=1)  # (N, 32, 32, 32)" in code
    assert "x = x + self.conv5(x)" in code
    assert "branch2 = torch.sigmoid(self.conv6(branch2))" in code and "x = x * branch2" in code
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_concatenated_paths_must_agree_in_size():
    bp = blueprint("[branches: [[conv: 4], [conv: {out: 4, padding: 1}]], flatten, linear: 10]")
    text = problems_of(bp)
    assert "concat joins the paths along channels" in text and "4x30x30, 4x32x32" in text


# --- defined blocks ---------------------------------------------------------------------------


class PaperCBAM(torch.nn.Module):
    """CBAM as Woo et al. 2018 write it: one MLP shared by both channel descriptors."""

    def __init__(self, channels: int, reduction: int = 16, kernel: int = 7) -> None:
        super().__init__()
        self.mlp = torch.nn.Sequential(
            torch.nn.Linear(channels, channels // reduction, bias=False),
            torch.nn.ReLU(),
            torch.nn.Linear(channels // reduction, channels, bias=False),
        )
        self.spatial = torch.nn.Conv2d(2, 1, kernel, padding=kernel // 2, bias=False)

    def forward(self, x):
        gate = self.mlp(x.mean((2, 3))) + self.mlp(x.amax((2, 3)))
        x = x * torch.sigmoid(gate)[:, :, None, None]
        pooled = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], 1)
        return x * torch.sigmoid(self.spatial(pooled))


def test_cbam_in_yaml_is_one_class_faithful_to_the_paper_and_counted_exactly():
    definition = {"cbam": yaml.safe_load(CBAM.read_text())}
    assert len([line for line in CBAM.read_text().splitlines() if line.strip()]) <= 25
    bp = blueprint(
        "[conv: 64, cbam, conv: 32, cbam: {reduction: 8}, cbam: {reduction: 4, kernel: 3},"
        " global_avg_pool, flatten, linear: classes]",
        definition,
    )
    check_counts(bp)
    plan, namespace, model = model_of(bp)
    assert [f.name for f, _ in plan.fragments] == ["Cbam"]
    assert "self.cbam2 = Cbam(32, reduction=8)" in plan.code.init_lines
    assert "self.cbam3 = Cbam(32, reduction=4, kernel=3)" in plan.code.init_lines
    ours = namespace["Cbam"](32, reduction=4, kernel=3)
    paper = PaperCBAM(32, reduction=4, kernel=3)
    with torch.no_grad():
        paper.mlp[0].weight.copy_(ours.conv1.weight.flatten(1))
        paper.mlp[2].weight.copy_(ours.conv2.weight.flatten(1))
        paper.spatial.weight.copy_(ours.conv3.weight)
        x = torch.randn(2, 32, 9, 9)
        torch.testing.assert_close(ours(x), paper(x))
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in paper.parameters())


def test_a_team_templates_yaml_block_reads_as_a_layer_kind():
    cls = read_block_file(CBAM)
    assert cls.KIND == "cbam" and cls().reduction == 16 and cls().kernel == 7


def readme_resnet18() -> dict:
    """The README's example of a defined block: ResNet-18."""
    text = (REPO / "README.md").read_text()
    blocks = [b.split("```", 1)[0] for b in text.split("```yaml")[1:]]
    return yaml.safe_load(next(b for b in blocks if "class: BasicBlock" in b))


def test_resnet18_from_a_defined_block_loads_torchvisions_weights_strictly():
    bp = blueprint(RESNET18, BASIC, size=64, classes=1000)
    check_counts(bp)
    plan, _, model = model_of(bp)
    assert [f.name for f, _ in plan.fragments] == ["Basic"]
    assert "    Basic(64, out=128, stride=2)," in plan.code.init_lines
    readme = readme_resnet18()
    bp = blueprint(readme["model"]["layers"], readme["blocks"], size=64, classes=1000)
    plan, _, model = model_of(bp)
    assert [f.name for f, _ in plan.fragments] == ["BasicBlock"]
    reference = torchvision.models.resnet18().eval()
    model.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x))


def test_an_error_inside_a_definition_names_its_line_and_the_place_of_use(tmp_path):
    text = problems_of(
        """name: broken
input: {channels: 3, height: 32, width: 32}
blocks:
  widen:
    params: {factor: 2}
    layers:
      - conv: {out: $in_channels * factor, kernel: 3}
      - conv: {out: $in_channels * fator}
model:
  layers:
    - conv: 8
    - widen: {factor: 4}
    - flatten
    - linear: classes
train: {epochs: 1}
""",
        tmp_path,
    )
    assert "bp.yaml:8:" in text and "unknown parameter 'fator'" in text
    assert "in the block 'widen' used at " in text and "bp.yaml:12:" in text
    assert text.count("in the block 'widen'") == 1
    assert "hint: the block's parameters: in_channels, factor" in text


def test_a_shape_error_inside_a_definition_names_its_line_and_the_place_of_use(tmp_path):
    text = problems_of(
        """name: broken
input: {channels: 3, height: 8, width: 8}
blocks:
  big:
    layers:
      - conv: {out: 4, kernel: 11}
model:
  layers:
    - big
    - flatten
    - linear: classes
train: {epochs: 1}
""",
        tmp_path,
    )
    assert "bp.yaml:6:" in text and "smaller than kernel 11x11" in text
    assert "(in the block 'big' used at " in text and "bp.yaml:9:" in text


def test_a_block_cannot_take_a_built_in_kind():
    with pytest.raises(BlueprintError, match="'conv' is a layer kind already"):
        blueprint("[conv: 8]", {"conv": {"layers": ["relu"]}})


def test_a_convnext_block_loads_torchvisions_cnblock_strictly():
    from torchvision.models.convnext import CNBlock

    cnblock = """
cnblock:
  class: CNBlock
  params: {drop: 0.0}
  layers:
    - residual:
        body:
          - sequential:
              name: block
              layers:
                - conv: {out: $in_channels, kernel: 7, padding: 3, groups: $in_channels}
                - permute: [0, 2, 3, 1]
                - layer_norm: {eps: 1.0e-6}
                - linear: $in_channels * 4
                - gelu
                - linear: $in_channels
                - permute: [0, 3, 1, 2]
        layer_scale: 1.0e-6
        drop_path: $drop
"""
    bp = blueprint(
        "[conv: {out: 32, kernel: 4, stride: 4}, layer_norm: {eps: 1.0e-6}, cnblock: {drop: 0.1},"
        " cnblock: {drop: 0.2}, global_avg_pool, flatten, linear: classes]",
        cnblock,
    )
    check_counts(bp)
    plan, namespace, _ = model_of(bp)
    assert [f.name for f, _ in plan.fragments] == ["LayerNorm2d", "DropPath", "Permute", "CNBlock"]
    assert "self.cnblock2 = CNBlock(32, drop=0.2)" in plan.code.init_lines
    ours, reference = namespace["CNBlock"](32, drop=0.1).eval(), CNBlock(32, 1e-6, 0.1).eval()
    ours.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(2, 32, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), reference(x))


# --- the small layers and names of issue 23's item 6 -------------------------------------------


def test_names_inside_a_group_key_its_entries_as_torchvision_features_conv0():
    bp = blueprint(
        """
- sequential:
    name: features
    layers:
      - conv: {out: 16, kernel: 3, bias: false, name: conv0}
      - batch_norm: {name: norm0}
      - relu: {name: relu0}
      - dense_layer: {name: denseblock1}
      - group_norm: 4
- global_avg_pool
- flatten
- linear: {out: classes, name: classifier}
""",
        """
dense_layer:
  params: {growth: 8}
  layers:
    - branches: [[], [batch_norm, relu, conv: {out: $growth, kernel: 1, bias: false}]]
""",
    )
    check_counts(bp)
    plan, _, model = model_of(bp)
    assert plan.code.imports[0] == "from collections import OrderedDict"
    keys = list(model.state_dict())
    assert keys[:2] == ["features.conv0.weight", "features.norm0.weight"]
    assert "features.denseblock1.conv.weight" in keys and "features.4.weight" in keys


def test_a_name_on_a_layer_of_several_entries_in_a_group_is_refused():
    bp = blueprint(
        "[sequential: [conv: 8, stage: {block: basic, blocks: 2, channels: 8, name: layer1}],"
        " flatten, linear: classes]"
    )
    assert "stage gives several entries of the group, so it cannot have one name" in problems_of(bp)


SMALL_LAYERS = """
- conv: {out: 16, padding: 1}
- group_norm: 4
- hardswish
- layer_norm
- channel_shuffle: 4
- permute: [0, 2, 3, 1]
- layer_norm: {eps: 1.0e-6}
- linear: 24
- permute: [0, 3, 1, 2]
- hardsigmoid
- sequential: [channel_shuffle: 2, hardswish, permute: [0, 2, 3, 1], layer_norm, permute: [0, 3, 1, 2]]
- conv: {out: classes, kernel: 1}
- global_avg_pool
- flatten
"""


def test_layer_norm_group_norm_hard_activations_permute_and_channel_shuffle():
    bp = blueprint(SMALL_LAYERS)
    check_counts(bp)
    plan, namespace, model = model_of(bp)
    assert "self.conv2 = nn.Conv2d(24, num_classes, kernel_size=1)" in plan.code.init_lines
    kinds = [type(m).__name__ for m in model.children()]
    assert kinds[:4] == ["Conv2d", "GroupNorm", "LayerNorm2d", "LayerNorm"]
    x = torch.arange(8.0).view(1, 8, 1, 1)
    assert namespace["channel_shuffle"](x, 2).flatten().tolist() == [0, 4, 1, 5, 2, 6, 3, 7]
    assert torch.equal(namespace["channel_shuffle"](x, 2), torch.nn.ChannelShuffle(2)(x))
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_a_permute_that_is_not_to_channels_last_and_back_is_refused():
    text = problems_of(blueprint("[conv: 4, permute: [0, 3, 2, 1], flatten, linear: classes]"))
    assert "permute [0, 3, 2, 1] does not apply to an image 4x30x30" in text


def test_did_you_mean_only_for_a_near_miss_and_the_known_layers_listed_once(tmp_path):
    text = problems_of(
        """name: typo
input: {channels: 1, height: 8, width: 8}
model:
  layers: [conv: 4, dense_block, transition, rleu, flatten, linear: classes]
train: {epochs: 1}
""",
        tmp_path,
    )
    assert "did you mean 'dense'" not in text and "did you mean 'attention'" not in text
    assert text.count("known layers: ") == 1 and "the known layers are listed above" in text
    assert "did you mean 'relu'?" in text


def test_a_block_that_uses_itself_is_refused():
    text = problems_of(
        blueprint(
            "[conv: 4, loop, flatten, linear: classes]", {"loop": {"layers": ["relu", "loop"]}}
        )
    )
    assert "the block 'loop' uses itself (loop -> loop)" in text


def test_a_blocks_class_cannot_take_a_helpers_name():
    bp = blueprint(
        "[conv: 4, residual: {body: [relu], drop_path: 0.1}, mine, flatten, linear: classes]",
        {"mine": {"class": "DropPath", "layers": ["relu"]}},
    )
    assert "model.py would define 'DropPath' twice" in problems_of(bp)


def test_cbam_and_eca_after_each_stage_of_resnet_cifar_in_a_team_template(tmp_path):
    """The team template holds blocks/cbam.yaml beside blocks/eca.py; its engine knows both."""
    from test_team_blocks import load_engine, make_template_root

    root = make_template_root(tmp_path)
    (root / "blocks" / "cbam.yaml").write_text(CBAM.read_text())
    team = load_engine(root)
    layers = yaml.safe_load((REPO / "blueprints" / "resnet_cifar.yaml").read_text())["model"]
    stages = []
    for layer in layers["layers"]:
        stages.append(layer)
        if "stage" in layer:
            stages += [{"cbam": {"reduction": 8}}, "eca"]
    data = {
        "name": "team",
        "input": {"channels": 3, "height": 32, "width": 32},
        "model": {"layers": stages},
        "data": {"classes": 10},
        "train": {"epochs": 1},
    }
    bp = team.blueprint.blueprint_from_data(data)
    plan = team.plan.build_plan(bp)
    namespace = {"__name__": "proj.model"}
    from test_team_blocks import model_code

    code = model_code(team, bp)
    assert code.count("class Cbam(nn.Module):") == 1 and "class ECA(nn.Module):" in code
    exec(compile(code, "proj/model.py", "exec"), namespace)
    model = namespace[plan.class_name]().eval()
    assert sum(p.numel() for p in model.parameters()) == plan.total_params
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.randn(1, 3, 32, 32))
    macs = counter.get_total_flops() // 2
    assert abs(plan.total_macs - macs) <= 0.01 * macs


def test_shufflenet_v2s_unit_splits_shuffles_and_a_dense_blocks_repeats_are_named():
    bp = blueprint(
        """
- conv: {out: 16, padding: 1}
- branches:
    - [chunk: {index: 0}]
    - [chunk: {index: 1}, conv: {out: 8, kernel: 1}, relu]
- channel_shuffle: 2
- sequential:
    name: features
    layers:
      - repeat: {times: 2, layer: dense_layer, names: denselayer}
- global_avg_pool
- flatten
- linear: classes
""",
        {
            "dense_layer": {
                "layers": [
                    {"branches": [[], ["batch_norm", "relu", {"conv": {"out": 4, "kernel": 1}}]]}
                ]
            }
        },
    )
    check_counts(bp)
    plan, _, model = model_of(bp)
    code = "\n".join(plan.code.forward_lines)
    assert "branch = x.chunk(2, dim=1)[1]" in code
    assert "x = torch.cat([x.chunk(2, dim=1)[0], branch], dim=1)" in code
    assert "x = channel_shuffle(x, 2)" in code
    assert "features.denselayer2.conv.weight" in model.state_dict()


def test_a_kind_as_a_parameter_gives_a_class_per_kind_used():
    bp = blueprint(
        "[act_conv: {out: 8}, act_conv: {out: 8, act: gelu}, act_conv: {out: 16},"
        " flatten, linear: classes]",
        {
            "act_conv": {
                "params": {"out": None, "act": "relu"},
                "layers": [{"conv": "$out"}, "$act"],
            }
        },
    )
    check_counts(bp)
    plan = build_plan(bp)
    assert [f.name for f, _ in plan.fragments] == ["ActConv", "ActConv2"]
    assert 'self.act_conv2 = ActConv2(8, out=8, act="gelu")' in plan.code.init_lines
    assert "self.act_conv3 = ActConv(8, out=16)" in plan.code.init_lines


def test_a_name_used_twice_inside_a_block_is_refused_where_it_is_written(tmp_path):
    text = problems_of(
        """name: twice
input: {channels: 3, height: 8, width: 8}
blocks:
  pair:
    layers:
      - conv: {out: 4, name: conv}
      - conv: {out: 4, name: conv}
model:
  layers: [pair, flatten, linear: classes]
train: {epochs: 1}
""",
        tmp_path,
    )
    assert "bp.yaml:7:" in text and "the name 'conv' is already used" in text
    assert "(in the block 'pair' used at " in text


def test_a_broken_yaml_block_of_a_team_template_names_its_file_and_line(tmp_path):
    from test_team_blocks import load_engine, make_template_root

    root = make_template_root(tmp_path, team_blocks=False)
    (root / "blocks").mkdir()
    (root / "blocks" / "gate.yaml").write_text("params: {r: 4}\nlayer: [relu]\n")
    team = load_engine(root)
    data = {
        "name": "t",
        "input": {"channels": 3, "height": 8, "width": 8},
        "model": {"layers": ["gate", "flatten", {"linear": "classes"}]},
        "train": {"epochs": 1},
    }
    with pytest.raises(Exception) as caught:
        team.blueprint.blueprint_from_data(data)
    assert type(caught.value).__name__ == "UnitError"
    assert (
        f"{root / 'blocks' / 'gate.yaml'}:2:1: gate.layer: unknown key 'layer' in a block"
        in str(caught.value)
    )


def test_a_block_inside_a_block_is_built_from_the_outer_ones_arguments():
    bp = blueprint(
        "[conv: 16, outer: {r: 4}, outer: {r: 2}, conv: 32, outer, flatten, linear: classes]",
        """
gate:
  params: {r: 16}
  layers:
    - branches:
        merge: mul
        paths:
          - []
          - [global_avg_pool, conv: {out: $in_channels // r, kernel: 1}, relu,
             conv: {out: $in_channels, kernel: 1}, sigmoid]
outer:
  params: {r: 8}
  layers:
    - conv: {out: $in_channels * 2, kernel: 1}
    - gate: {r: $r}
    - gate
""",
    )
    check_counts(bp)
    plan = build_plan(bp)
    assert [f.name for f, _ in plan.fragments] == ["Gate", "Outer"]
    outer = plan.fragments[1][0].code(frozenset())
    assert "self.gate1 = Gate(in_channels * 2, r=r)" in outer
    assert "self.gate2 = Gate(in_channels * 2)" in outer
    assert "self.conv2 = nn.Conv2d(64, 32, kernel_size=3)" in plan.code.init_lines


def test_a_residual_added_only_where_the_shape_stays_is_mobilenet_v2s_block():
    from torchvision.models.mobilenetv2 import InvertedResidual

    bp = blueprint(
        """
- conv: {out: 16, padding: 1, bias: false}
- sequential: {name: features, layers: [ir: {out: 24, stride: 2}, ir: {out: 24}]}
- global_avg_pool
- flatten
- linear: classes
""",
        """
ir:
  class: InvertedResidual
  params: {out: ~, stride: 1, expansion: 6}
  layers:
    - residual:
        body:
          - sequential:
              name: conv
              layers:
                - sequential: [conv: {out: $in_channels * expansion, kernel: 1, bias: false},
                               batch_norm, relu6]
                - sequential: [conv: {out: $in_channels * expansion, stride: $stride, padding: 1,
                                      groups: $in_channels * expansion, bias: false},
                               batch_norm, relu6]
                - conv: {out: $out, kernel: 1, bias: false}
                - batch_norm
        connect: $stride == 1 and in_channels == out
""",
    )
    check_counts(bp)
    plan, namespace, _ = model_of(bp)
    assert [f.name for f, _ in plan.fragments] == ["InvertedResidual"]
    code = plan.fragments[0][0].code(frozenset())
    assert "self.use_residual = stride == 1 and in_channels == out" in code
    assert "        if self.use_residual:\n            x += identity\n        return x" in code
    for args in [(16, 24, 2, 6), (24, 24, 1, 6)]:
        ours = namespace["InvertedResidual"](args[0], out=args[1], stride=args[2]).eval()
        reference = InvertedResidual(*args).eval()
        ours.load_state_dict(reference.state_dict(), strict=True)
        x = torch.randn(2, args[0], 8, 8)
        with torch.no_grad():
            torch.testing.assert_close(ours(x), reference(x))


def test_squeezenets_fire_and_googlenets_inception_load_torchvision_strictly():
    from torchvision.models.googlenet import Inception
    from torchvision.models.squeezenet import Fire

    bp = blueprint(
        "[conv: {out: 64, kernel: 3, padding: 1}, fire: {squeeze: 16, expand: 64},"
        " inception: {c1: 64, c3r: 96, c3: 128, c5r: 16, c5: 32, pool: 32},"
        " global_avg_pool, flatten, linear: classes]",
        """
fire:
  class: Fire
  params: {squeeze: ~, expand: ~}
  layers:
    - conv: {out: $squeeze, kernel: 1, name: squeeze}
    - relu
    - branches:
        - [conv: {out: $expand, kernel: 1, name: expand1x1}, relu]
        - [conv: {out: $expand, kernel: 3, padding: 1, name: expand3x3}, relu]
basic_conv:
  class: BasicConv2d
  params: {out: ~, kernel: 1}
  layers:
    - conv: {out: $out, kernel: $kernel, padding: $kernel // 2, bias: false, name: conv}
    - batch_norm: {eps: 0.001, name: bn}
    - relu
inception:
  class: Inception
  params: {c1: ~, c3r: ~, c3: ~, c5r: ~, c5: ~, pool: ~}
  layers:
    - branches:
        - [basic_conv: {out: $c1, name: branch1}]
        - [sequential: {name: branch2, layers: [basic_conv: $c3r, basic_conv: {out: $c3, kernel: 3}]}]
        - [sequential: {name: branch3, layers: [basic_conv: $c5r, basic_conv: {out: $c5, kernel: 3}]}]
        - - sequential:
              name: branch4
              layers: [maxpool: {kernel: 3, stride: 1, padding: 1, ceil_mode: true}, basic_conv: $pool]
""",
    )
    check_counts(bp)
    plan, namespace, _ = model_of(bp)
    assert [f.name for f, _ in plan.fragments] == ["Fire", "BasicConv2d", "Inception"]
    pairs = [
        (namespace["Fire"](64, squeeze=16, expand=64), Fire(64, 16, 64, 64), 64),
        (
            namespace["Inception"](128, c1=64, c3r=96, c3=128, c5r=16, c5=32, pool=32),
            Inception(128, 64, 96, 128, 16, 32, 32),
            128,
        ),
    ]
    for ours, reference, channels in pairs:
        ours.eval(), reference.eval()
        ours.load_state_dict(reference.state_dict(), strict=True)
        x = torch.randn(2, channels, 9, 9)
        with torch.no_grad():
            torch.testing.assert_close(ours(x), reference(x))


def test_names_in_a_group_are_the_groups_own():
    bp = blueprint(
        "[sequential: {name: features, layers: [conv: {out: 4, name: conv0}, relu]},"
        " conv: {out: 4, name: conv0}, flatten, linear: classes]"
    )
    plan = build_plan(bp)
    assert {"features", "conv0", "fc"} <= set(plan.module_names)
    bp = blueprint(
        "[sequential: [conv: {out: 4, name: conv0}, conv: {out: 4, name: conv0}], flatten,"
        " linear: classes]"
    )
    assert "the name 'conv0' is already used in this group" in problems_of(bp)


def test_the_command_line_inspects_a_defined_block_and_refuses_a_mistake_in_one(tmp_path):
    from conftest import run_scaffold

    blueprint_path = tmp_path / "cbam_net.yaml"
    blocks = "\n".join("  " + line for line in CBAM.read_text().splitlines())
    blueprint_path.write_text(
        "name: cbam_net\ninput: {channels: 3, height: 32, width: 32}\nblocks:\n  cbam:\n"
        + "\n".join("  " + line for line in blocks.splitlines())
        + "\nmodel:\n  layers: [conv: 16, cbam: {reduction: 4}, global_avgpool, flatten,"
        " linear: classes]\ntrain: {epochs: 1}\n"
    )
    result = run_scaffold("inspect", blueprint_path)
    assert result.code == 0, result.err
    assert "cbam.conv3" in result.out and "branches (mul)" in result.out
    text = blueprint_path.read_text().replace("kernel: $kernel,", "kernel: $kernal,")
    blueprint_path.write_text(text)
    result = run_scaffold("validate", blueprint_path)
    assert result.code == 2 and "Traceback" not in result.err
    assert "unknown parameter 'kernal' (in the block 'cbam' used at " in result.err


# --- repeat: per-repeat arguments ---------------------------------------------------------------

DROP_PATH_BLOCK = """
deep:
  params: {drop_path: 0.0}
  layers:
    - residual:
        body: [conv: {out: $in_channels, padding: 1}]
        drop_path: $drop_path
"""


def test_each_gives_every_repeat_its_own_value_with_first_applied_too():
    """Stochastic depth growing with the block's position (torchvision's ConvNeXt, Swin,
    EfficientNet): one value per repeat, emitted as each instance's argument."""
    bp = blueprint(
        "[conv: 8, repeat: {times: 3, layer: deep, first: {drop_path: 0.5},"
        " each: {drop_path: [0.0, 0.1, 0.2]}}, flatten, linear: classes]",
        DROP_PATH_BLOCK,
    )
    plan, namespace, model = model_of(bp)
    rates = [block.drop_path.p for block in model.layer]
    assert rates == [0.0, 0.1, 0.2]  # `each` is applied after `first`
    code = _model_template().render(blueprint=bp.raw, package_name="proj", _copier_conf={})
    assert "Deep(8),\n" in code and "Deep(8, drop_path=0.1)" in code


def test_each_needs_one_value_per_repeat():
    bp = blueprint(
        "[conv: 8, repeat: {times: 3, layer: deep, each: {drop_path: [0.0, 0.1]}},"
        " flatten, linear: classes]",
        DROP_PATH_BLOCK,
    )
    message = problems_of(bp)
    assert "model.layers[1] (repeat).each.drop_path: has 2 values for 3 repeats" in message
    assert "give one value per repeat (3)" in message
