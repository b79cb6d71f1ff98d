"""ConvNeXt (tiny, small) and RegNet (Y-400MF, X-400MF) as bundled blueprints: each generated model
loads torchvision's state_dict strictly and computes the same function."""

from __future__ import annotations

import pytest
from generated import REPO, agrees_with_torchvision

from scaffold.blueprint import load_blueprint

# at 64 px: every stage still has at least 2x2 positions, and a case takes a few seconds on CPU
FAMILIES = ["convnext_tiny", "convnext_small", "regnet_y_400mf", "regnet_x_400mf"]


@pytest.mark.parametrize("arch", FAMILIES)
def test_bundled_blueprint_is_torchvisions_model(arch):
    agrees_with_torchvision(load_blueprint(REPO / "blueprints" / f"{arch}.yaml"), arch, size=64)
