"""Swin (swin_t) and Swin V2 (swin_v2_t) as bundled blueprints: each generated model loads
torchvision's state_dict strictly and computes the same function, and the window attention and
patch merging units refuse what they cannot do."""

from __future__ import annotations

import pytest
import torch
from generated import REPO, agrees_with_torchvision, model_module
from test_language import blueprint

from scaffold.blueprint import load_blueprint
from scaffold.errors import BlueprintError
from scaffold.plan import build_plan


# Smaller than the weights' sizes, and chosen so that every path of the attention is taken: 64 px
# (swin_t, windows of 7) and 72 px (swin_v2_t, windows of 8) give stages of 16 and 8 (18 and 9)
# positions, padded to whole windows and shifted, then ones within one window, not shifted.
@pytest.mark.parametrize("arch, size", [("swin_t", 64), ("swin_v2_t", 72)])
def test_bundled_blueprint_is_torchvisions_model(arch, size):
    agrees_with_torchvision(load_blueprint(REPO / "blueprints" / f"{arch}.yaml"), arch, size=size)
