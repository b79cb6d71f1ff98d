"""GoogLeNet and Inception v3 as bundled blueprints: their generated models load torchvision's
state_dict strictly and compute the same function as torchvision's model with the settings of its
ImageNet weights (no auxiliary classifiers, inputs re-normalised to [-1, 1]); at smaller sizes
than their own (224 and 299 px), which both take, to keep the CPU time short."""

from __future__ import annotations

import pytest
from generated import REPO, agrees_with_torchvision

from scaffold.blueprint import load_blueprint

SETTINGS = {"aux_logits": False, "transform_input": True, "init_weights": True}


@pytest.mark.parametrize(("arch", "size"), [("googlenet", 96), ("inception_v3", 107)])
def test_bundled_blueprint_agrees_with_torchvision(arch, size):
    blueprint = load_blueprint(REPO / "blueprints" / f"{arch}.yaml")
    agrees_with_torchvision(blueprint, arch, size, **SETTINGS)
