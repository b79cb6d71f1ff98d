"""MobileNetV3 (Small and Large) and MNASNet 1.0 as bundled blueprints: each generated model
takes torchvision's state_dict strictly and computes the same function (eval mode, random
weights); MobileNetV3's block (`bneck`) is one class whatever its options, and holds no code
for an option no block of the blueprint uses."""

from __future__ import annotations

import pytest
from conftest import REPO
from generated import agrees_with_torchvision
from test_language import blueprint, problems_of

from scaffold.blueprint import load_blueprint
from scaffold.plan import build_plan

FAMILIES = ["mobilenet_v3_small", "mobilenet_v3_large", "mnasnet1_0"]


@pytest.mark.parametrize("arch", FAMILIES)
def test_bundled_blueprint_is_torchvisions_model(arch):
    # 64 px: the models pool adaptively, and the CPU time is a twelfth of 224 px's
    agrees_with_torchvision(load_blueprint(REPO / "blueprints" / f"{arch}.yaml"), arch, size=64)


def test_one_bneck_class_and_no_squeeze_excitation_code_where_no_block_has_one():
    with_se = build_plan(
        blueprint(
            "[conv: 16, bneck: {expanded: 16, out: 16, se: true},"
            " bneck: {expanded: 64, out: 24, kernel: 5, stride: 2, hardswish: true},"
            " global_avgpool, flatten, linear: classes]"
        )
    )
    assert [f.name for f, _ in with_se.fragments] == ["Bneck"]
    code = "\n".join(f.code(flags) for f, flags in with_se.fragments)
    assert "class HardSqueezeExcitation(nn.Module):" in code and "se: bool = False" in code
    assert "self.bneck = nn.Sequential(" not in with_se.code.init_lines
    assert "self.block1 = Bneck(16, 16, 16, se=True)" in with_se.code.init_lines
    assert (
        "self.block2 = Bneck(16, 64, 24, kernel=5, stride=2, hardswish=True)"
        in with_se.code.init_lines
    )
    without = build_plan(
        blueprint("[conv: 16, bneck: {expanded: 48, out: 16}, flatten, linear: 10]")
    )
    code = "\n".join(f.code(flags) for f, flags in without.fragments)
    assert (
        "SqueezeExcitation" not in code and "make_divisible" not in code and "se: bool" not in code
    )


def test_an_even_bneck_kernel_is_refused_by_name():
    text = problems_of(blueprint("[conv: 8, bneck: {expanded: 16, out: 8, kernel: 4}, flatten]"))
    assert "kernel 4 is even" in text


def test_a_defined_blocks_long_doc_is_filled_to_the_line_length():
    plan = build_plan(load_blueprint(REPO / "blueprints" / "mnasnet1_0.yaml"))
    (fragment, flags), *_ = plan.fragments
    code = fragment.code(flags)
    assert code.startswith('class InvertedResidual(nn.Module):\n    """MNASNet\'s inverted')
    doc = code[: code.index('    """\n') + 8]  # black formats the code, but leaves the doc
    assert max(len(line) for line in doc.splitlines()) <= 100
    assert doc.endswith('    the shape stays.\n    """\n')
