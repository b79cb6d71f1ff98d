"""SqueezeNet 1.1, DenseNet-121, ShuffleNet V2 1x, AlexNet and VGG-16-BN as bundled blueprints:
each generated model loads torchvision's state_dict (random init: nothing is downloaded) with
strict=True and computes the same function in eval mode. At the blueprint's own 224 px where that
takes a moment on the CPU; VGG-16 at 64 px (its features end in 2x2, which the 7x7 average pool
takes as torchvision's does)."""

from __future__ import annotations

import pytest
from generated import REPO, agrees_with_torchvision

from scaffold.blueprint import load_blueprint

SIZES = {"squeezenet1_1": None, "densenet121": None, "shufflenet_v2_x1_0": None, "alexnet": None}
SIZES["vgg16_bn"] = 64


@pytest.mark.parametrize("arch", list(SIZES))
def test_bundled_blueprint_is_torchvisions_model(arch):
    blueprint = load_blueprint(REPO / "blueprints" / f"{arch}.yaml")
    assert blueprint.model.pretrained == f"torchvision/{arch}"
    agrees_with_torchvision(blueprint, arch, SIZES[arch])
