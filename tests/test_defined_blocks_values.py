"""The values a defined block computes with: `let` (named sizes, written as locals of the class's
`__init__`), `max(...)` / `min(...)`, pair parameters (`kernel: [1, 7]`, passed on by name), and the
channel vector of squeeze-excitation (`reduce: {keepdim: false}`, linear layers, and a gate of one
value per channel broadcast over the image by `branches`). Each is checked for its shapes, for
`inspect`'s counts against PyTorch's, for the generated code, for torchvision's strict weight
loads where it writes torchvision's block, and for errors located in use and definition."""

from __future__ import annotations

import pytest
import torch
from test_counts import check_counts
from test_language import blueprint, model_of, problems_of

# MobileNetV2's block with its expanded width named once, as torchvision's `hidden_dim`
INVERTED = """
inverted:
  class: InvertedResidual
  params: {out: ~, stride: 1, expansion: 6}
  let:
    hidden: $in_channels * expansion
  layers:
    - residual:
        body:
          - sequential:
              name: conv
              layers:
                - sequential: [conv: {out: $hidden, kernel: 1, bias: false}, batch_norm, relu6]
                - sequential: [conv: {out: $hidden, stride: $stride, padding: 1, groups: $hidden,
                                      bias: false}, batch_norm, relu6]
                - conv: {out: $out, kernel: 1, bias: false}
                - batch_norm
        connect: $stride == 1 and in_channels == out
"""

INVERTED_MODEL = """
- conv: {out: 16, padding: 1}
- inverted: {out: 16}
- inverted: {out: 24, stride: 2}
- global_avgpool
- flatten
- linear: classes
"""


def test_a_let_value_is_named_once_in_the_class_and_loads_torchvisions_block_strictly():
    from torchvision.models.mobilenetv2 import InvertedResidual

    bp = blueprint(INVERTED_MODEL, INVERTED)
    plan, namespace, model = model_of(bp)
    text = _model_code(bp)
    assert "        hidden = in_channels * expansion\n" in text
    assert "nn.Conv2d(in_channels, hidden, kernel_size=1, bias=False)" in text
    assert "nn.BatchNorm2d(hidden)" in text
    assert "in_channels * expansion," not in text  # written once, by name
    assert text.count("class InvertedResidual") == 1
    assert "InvertedResidual(16, out=24, stride=2)" in text
    for index, (cin, cout, stride) in enumerate([(16, 16, 1), (16, 24, 2)], start=1):
        torch.manual_seed(index)
        theirs = InvertedResidual(cin, cout, stride, 6).eval()
        ours = getattr(model, f"inverted{index}")
        ours.load_state_dict(theirs.state_dict(), strict=True)
        x = torch.randn(2, cin, 8, 8)
        torch.testing.assert_close(ours(x), theirs(x))
    check_counts(bp, 32)


def _model_code(bp) -> str:
    from generated import _model_template

    return _model_template().render(blueprint=bp.raw, package_name="proj", _copier_conf={})


SQUEEZE = """
gate:
  class: ChannelGate
  params: {reduction: 16}
  let:
    squeezed: $max(1, in_channels // reduction)
  layers:
    - branches:
        merge: mul
        paths:
          - []
          - [reduce: {op: mean, keepdim: false}, linear: {out: $squeezed, name: fc1}, relu,
             linear: {out: $in_channels, name: fc2}, sigmoid]
"""


def test_squeeze_excitation_on_the_channel_vector_matches_the_bundled_unit():
    """max(...) keeps 8 // 16 from being 0; the gate's state_dict is the bundled
    SqueezeExcitation's, and so are its outputs and counts."""
    bp = blueprint(
        "[conv: 8, gate, squeeze_excitation, conv: 32, gate: 4, squeeze_excitation: 4, "
        "global_avgpool, flatten, linear: classes]",
        SQUEEZE,
    )
    plan, namespace, model = model_of(bp)
    text = _model_code(bp)
    assert "        squeezed = max(1, in_channels // reduction)\n" in text
    assert "self.fc1 = nn.Linear(in_channels, squeezed)" in text
    assert "branch = x.mean(dim=(2, 3))" in text
    assert "return x * branch[:, :, None, None]" in text
    assert text.count("class ChannelGate") == 1
    assert model.gate1.fc1.weight.shape == (1, 8)  # max(1, 8 // 16)
    x = torch.randn(2, 8, 5, 5)
    model.gate1.load_state_dict(model.se1.state_dict(), strict=True)
    torch.testing.assert_close(model.gate1(x), model.se1(x))
    x = torch.randn(2, 32, 5, 5)
    model.gate2.load_state_dict(model.se2.state_dict(), strict=True)
    torch.testing.assert_close(model.gate2(x), model.se2(x))
    rows = {row.module: row for row in plan.rows if row.module}
    assert rows["gate2"].params == rows["se2"].params == 2 * 32 * 8 + 8 + 32
    check_counts(bp, 16)


CONV_BN = """
conv_bn:
  class: BasicConv2d
  params: {out: ~, kernel: [1, 1], stride: 1, padding: [0, 0]}
  layers:
    - conv: {out: $out, kernel: $kernel, stride: $stride, padding: $padding, bias: false}
    - batch_norm: {eps: 0.001}
    - relu
"""


def test_a_pair_parameter_is_one_class_for_square_and_oblong_kernels():
    from torchvision.models.inception import BasicConv2d

    bp = blueprint(
        "[conv_bn: {out: 16, kernel: 3, padding: 1}, conv_bn: {out: 16, kernel: [1, 7], "
        "padding: [0, 3]}, conv_bn: {out: 8, kernel: [7, 1], padding: [3, 0]}, conv_bn: 8, "
        "global_avgpool, flatten, linear: classes]",
        CONV_BN,
    )
    plan, namespace, model = model_of(bp)
    text = _model_code(bp)
    assert text.count("class BasicConv2d") == 1
    assert "kernel: int | tuple[int, int] = 1," in text
    assert "kernel_size=kernel" in text and "padding=padding" in text
    # the arguments in the blueprint's order
    assert "BasicConv2d(3, out=16, kernel=3, padding=1)" in text
    assert "BasicConv2d(16, out=16, kernel=(1, 7), padding=(0, 3))" in text
    assert "BasicConv2d(8, out=8)" in text
    torch.manual_seed(0)
    theirs = BasicConv2d(16, 16, kernel_size=(1, 7), padding=(0, 3)).eval()
    model.conv_bn2.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(2, 16, 9, 9)
    torch.testing.assert_close(model.conv_bn2(x), theirs(x))
    assert plan.output_shape.dims == (10,)
    check_counts(bp, 16)


def _file(tmp_path, blocks: str, layers: str) -> str:
    return (
        "name: broken\ninput: {channels: 3, height: 16, width: 16}\nblocks:\n"
        + blocks
        + "model:\n  layers:\n"
        + layers
        + "    - flatten\n    - linear: classes\ntrain: {epochs: 1}\n"
    )


def test_a_let_value_that_does_not_compute_is_reported_on_its_line_and_the_place_of_use(
    tmp_path,
):
    text = problems_of(
        _file(
            tmp_path,
            "  wide:\n    params: {factor: 2}\n    let:\n      width: $in_channels * fator\n"
            "    layers: [conv: {out: $width}]\n",
            "    - conv: 4\n    - wide: 3\n",
        ),
        tmp_path,
    )
    assert "bp.yaml:7:" in text and "blocks.wide.let.width" in text
    assert "unknown parameter 'fator'" in text
    assert "(in the block 'wide' used at " in text and "bp.yaml:12:" in text


@pytest.mark.parametrize(
    "let, message",
    [
        ("{hidden: $in_channels * 2, unused: 3}", "the `let` value 'unused' is not used"),
        ("{factor: 3}", "'factor' cannot be a `let` name (a parameter's name)"),
        ("{in_channels: 3}", "'in_channels' cannot be a `let` name (reserved)"),
        ("{hidden: [1, 2]}", "a `let` value is a number or a `$EXPRESSION`"),
        ("[hidden]", "expected a mapping of names to values"),
    ],
)
def test_a_wrong_let_is_refused_where_it_is_written(tmp_path, let, message):
    text = problems_of(
        _file(
            tmp_path,
            f"  wide:\n    params: {{factor: 2}}\n    let: {let}\n"
            "    layers: [conv: {out: $hidden}]\n",
            "    - conv: 4\n    - wide\n",
        ),
        tmp_path,
    )
    assert "bp.yaml:6:" in text and message in text


@pytest.mark.parametrize(
    "expression, message",
    [
        ("$max(in_channels)", "max(a, b, ...), min(a, b, ...)"),
        ("$round(in_channels)", "max(a, b, ...), min(a, b, ...)"),
        ("$kernel // 2", "computes with a word, a pair or true/false"),
    ],
)
def test_a_wrong_call_or_arithmetic_on_a_pair_is_reported_in_the_definition(
    tmp_path, expression, message
):
    text = problems_of(
        _file(
            tmp_path,
            "  pad:\n    params: {kernel: [3, 3]}\n"
            f"    layers: [conv: {{out: 4, kernel: $kernel, padding: {expression}}}]\n",
            "    - conv: 4\n    - pad\n",
        ),
        tmp_path,
    )
    assert "bp.yaml:6:" in text and message in text
    assert "(in the block 'pad' used at " in text and "bp.yaml:10:" in text


def test_min_is_written_as_the_call_and_a_wrong_pair_argument_is_refused_at_the_use(tmp_path):
    bp = blueprint(
        "[conv: 8, narrow: 4, global_avgpool, flatten, linear: classes]",
        "narrow: {params: {most: ~}, layers: [conv: {out: '$min(most, in_channels)'}]}",
    )
    text = _model_code(bp)
    assert "nn.Conv2d(in_channels, min(most, in_channels), kernel_size=3)" in text
    plan, _, model = model_of(bp)
    assert model.narrow.conv.out_channels == 4
    text = problems_of(
        _file(
            tmp_path,
            CONV_BN.replace("\n", "\n  ").rstrip(" ").join(["  ", ""]),
            "    - conv: 4\n    - conv_bn: {out: 4, kernel: [1, 7, 1]}\n",
        ),
        tmp_path,
    )
    assert "expected [height, width]" in text and "bp.yaml:15:" in text


def test_reduce_keeps_its_dimensions_unless_told_and_only_over_height_and_width(tmp_path):
    text = problems_of(
        _file(
            tmp_path,
            "  none:\n    layers: [relu]\n",
            "    - conv: 4\n    - reduce: {op: max, over: channels, keepdim: false}\n",
        ),
        tmp_path,
    )
    assert "keepdim: false reduces over height and width, not over channels" in text
    bp = blueprint("[conv: 4, reduce: {op: max, keepdim: false}, linear: classes]")
    plan, _, model = model_of(bp)
    assert "x = x.amax(dim=(2, 3))" in _model_code(bp)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_a_gate_of_another_width_than_the_image_is_refused(tmp_path):
    text = problems_of(
        _file(
            tmp_path,
            "  gate:\n    layers:\n      - branches:\n          merge: mul\n"
            "          paths: [[], [reduce: {keepdim: false, op: mean}, linear: 3, sigmoid]]\n",
            "    - conv: 4\n    - gate\n",
        ),
        tmp_path,
    )
    assert "the paths give different kinds of output" in text


def test_the_readme_inverted_residual_is_the_one_tested_here():
    """README shows `let` with this block: the test and the documentation say the same."""
    from conftest import REPO

    assert "hidden: $in_channels * expansion" in (REPO / "README.md").read_text()


def test_the_schema_accepts_let_pair_parameters_and_keepdim():
    import json

    import jsonschema
    import yaml

    from scaffold.schema import schema_json

    validator = jsonschema.Draft202012Validator(json.loads(schema_json()))
    data = {
        "name": "values",
        "input": {"channels": 3, "height": 16, "width": 16},
        "blocks": {
            **yaml.safe_load(INVERTED),
            **yaml.safe_load(SQUEEZE),
            **yaml.safe_load(CONV_BN),
        },
        "model": {"layers": yaml.safe_load(INVERTED_MODEL)},
    }
    assert not list(validator.iter_errors(data))
    data["blocks"]["gate"]["let"]["squeezed"] = "in_channels // 2"  # no `$`: not an expression
    assert list(validator.iter_errors(data))


# --- bundled blocks written in the language ---------------------------------------------------


def test_basic_conv2d_is_a_bundled_definition_written_as_torchvisions_class(tmp_path):
    """scaffold/blocks/basic_conv2d.yaml: one class, torchvision's signature and calls, its
    weights loaded strictly, counted exactly; a mistake is reported where it is used."""
    from torchvision.models.inception import BasicConv2d

    bp = blueprint(
        "[basic_conv2d: {out: 16, kernel: 7, stride: 2, padding: 3}, basic_conv2d: 8, "
        "basic_conv2d: {out: 8, kernel: [1, 7], padding: [0, 3]}, flatten, linear: classes]"
    )
    text = _model_code(bp)
    assert text.count("class BasicConv2d(nn.Module):") == 1
    assert "nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=False)" in text
    assert "self.conv1 = BasicConv2d(3, 16, kernel_size=7, stride=2, padding=3)" in text
    assert "self.conv2 = BasicConv2d(16, 8, kernel_size=1)" in text
    assert "self.conv3 = BasicConv2d(8, 8, kernel_size=(1, 7), padding=(0, 3))" in text
    plan, _, model = model_of(bp)
    torch.manual_seed(0)
    theirs = BasicConv2d(8, 8, kernel_size=(1, 7), padding=(0, 3)).eval()
    model.conv3.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(2, 8, 16, 16)
    torch.testing.assert_close(model.conv3(x), theirs(x))
    check_counts(bp, 32)
    text = problems_of(
        _file(
            tmp_path, "  none:\n    layers: [relu]\n", "    - basic_conv2d: {out: 4, kernel: 17}\n"
        ),
        tmp_path,
    )
    assert (
        "bp.yaml:8:7: model.layers[0] (basic_conv2d): input 3x16x16 is smaller than kernel" in text
    )
    assert "scaffold/blocks" not in text  # the definition is scaffold's, not the user's
    text = problems_of(
        _file(tmp_path, "  none:\n    layers: [relu]\n", "    - flatten\n    - basic_conv2d: 4\n"),
        tmp_path,
    )
    assert "bp.yaml:9:7: model.layers[1] (basic_conv2d): basic_conv2d needs a C x H x W" in text


def test_the_bundled_definitions_follow_the_schema_and_read_without_problems():
    import json

    import jsonschema
    import yaml
    from conftest import REPO

    from scaffold.blocks.defined import bundled_definition

    schema = json.loads((REPO / "schema" / "blueprint.schema.json").read_text())
    validator = jsonschema.Draft202012Validator(
        schema["properties"]["blocks"]["additionalProperties"]
    )
    files = sorted((REPO / "scaffold" / "blocks").glob("*.yaml"))
    assert {f.stem for f in files} >= {"basic_conv2d", "inverted_residual"}
    for path in files:
        assert not list(validator.iter_errors(yaml.safe_load(path.read_text()))), path
        assert bundled_definition(path.stem).layers.items


def test_an_argument_that_forward_reads_is_kept_by_init(tmp_path):
    """A parameter or `let` value used by forward (a chunk's index, a shuffle's groups) is kept
    as an attribute, `self.index = index`, and read as `self.index`: the class runs."""
    bp = blueprint(
        "[conv: {out: 4, kernel: 1}, pick: {index: 1}, flatten, linear: classes]",
        "pick:\n  params: {index: 0, groups: 2}\n  let:\n    shuffled: $groups * 2\n"
        "  layers: [conv: {out: 8, kernel: 1}, channel_shuffle: $shuffled,"
        " chunk: {chunks: 2, index: $index}]\n",
    )
    text = _model_code(bp)
    assert "        self.index = index\n        self.shuffled = shuffled\n" in text
    assert "x = channel_shuffle(x, self.shuffled)" in text
    assert "return x.chunk(2, dim=1)[self.index]" in text
    plan, _, model = model_of(bp)
    x = torch.randn(2, 3, 32, 32)
    assert model(x).shape == (2, 10)
    inner = model.pick.conv(model.conv(x))
    shuffled = inner.view(2, 4, 2, 32, 32).transpose(1, 2).reshape(2, 8, 32, 32)
    torch.testing.assert_close(model.pick(model.conv(x)), shuffled.chunk(2, dim=1)[1])
    text = problems_of(
        _file(
            tmp_path,
            "  pick:\n    params: {conv: 0}\n"
            "    layers: [conv: {out: 8, kernel: 1, name: conv}, chunk: {chunks: 2, index: $conv}]\n",
            "    - conv: 4\n    - pick\n",
        ),
        tmp_path,
    )
    assert "forward reads 'conv' as self.conv, which is also a layer's name" in text
    assert "bp.yaml:5:" in text and "bp.yaml:10:" in text


def test_let_values_follow_what_they_use_whatever_the_mappings_order(tmp_path):
    """`half` uses `hidden`: computed (and written) after it, also from the recorded blueprint
    whose keys are sorted; a block inside a block takes a `let` value as its argument."""
    blocks = SQUEEZE + """
wide:
  params: {expansion: 4}
  let:
    hidden: $in_channels * expansion
    half: $hidden // 2
  layers:
    - conv: {out: $hidden, kernel: 1}
    - gate: {reduction: $half}
    - conv: {out: $half, kernel: 1}
"""
    bp = blueprint("[conv: {out: 8, kernel: 1}, wide, wide: 2, flatten, linear: classes]", blocks)
    text = _model_code(bp)
    assert "        hidden = in_channels * expansion\n        half = hidden // 2\n" in text
    assert "self.gate = ChannelGate(hidden, reduction=half)" in text
    plan, _, model = model_of(bp)
    assert model.wide2.gate.fc1.in_features == 32 and model.wide2.conv2.out_channels == 16
    check_counts(bp, 32)
    text = problems_of(
        _file(
            tmp_path,
            "  loop:\n    let:\n      a: $b + 1\n      b: $a + 1\n    layers: [conv: {out: $a}]\n",
            "    - conv: 4\n    - loop\n",
        ),
        tmp_path,
    )
    assert "bp.yaml:6:" in text and "the `let` values a, b are computed from each other" in text
