"""SqueezeNet 1.1, DenseNet-121, ShuffleNet V2 1x, AlexNet and VGG-16-BN as bundled blueprints:
each generated model loads torchvision's state_dict (random init: nothing is downloaded) with
strict=True and computes the same function in eval mode. At the blueprint's own 224 px where that
takes a moment on the CPU; VGG-16 at 64 px (its features end in 2x2, which the 7x7 average pool
takes as torchvision's does)."""

from __future__ import annotations

import pytest
import yaml
from conftest import BLUEPRINTS
from generated import REPO, agrees_with_torchvision

from scaffold.blueprint import load_blueprint
from scaffold.presets import TORCHVISION_HEADS

SIZES = {"squeezenet1_1": None, "densenet121": None, "shufflenet_v2_x1_0": None, "alexnet": None}
SIZES["vgg16_bn"] = 64


@pytest.mark.parametrize("arch", list(SIZES))
def test_bundled_blueprint_is_torchvisions_model(arch):
    blueprint = load_blueprint(REPO / "blueprints" / f"{arch}.yaml")
    assert blueprint.model.pretrained == f"torchvision/{arch}"
    agrees_with_torchvision(blueprint, arch, SIZES[arch])


def test_a_bundled_blueprint_with_torchvision_weights_is_named_after_them():
    """`model.pretrained: torchvision/NAME` is checked against blueprints/NAME.yaml itself (for
    every family not written out in presets), and loads with TORCHVISION_HEADS' classifier."""
    named = {}
    for path in BLUEPRINTS:
        model = yaml.safe_load(path.read_text("utf-8")).get("model") or {}
        source, _, arch = str(model.get("pretrained") or "").partition("/")
        if source == "torchvision":
            named[path.stem] = arch
    assert {"resnet50", "squeezenet1_1", "vgg16_bn"} <= set(named)
    assert {stem: arch for stem, arch in named.items() if stem != arch} == {}
    assert [arch for arch in named.values() if arch not in TORCHVISION_HEADS] == []
