"""SqueezeNet 1.1, DenseNet-121, ShuffleNet V2 1x, AlexNet and VGG-16-BN as bundled blueprints:
each generated model loads torchvision's state_dict (random init: nothing is downloaded) with
strict=True and computes the same function in eval mode. At the blueprint's own 224 px where that
takes a moment on the CPU; VGG-16 at 64 px (its features end in 2x2, which the 7x7 average pool
takes as torchvision's does)."""

from __future__ import annotations

import re

import pytest
import torch
import torchvision
import yaml
from conftest import BLUEPRINTS
from generated import REPO, agrees_with_torchvision, model_module

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


def test_densenet_loads_torchvisions_weight_file_whose_keys_have_the_old_names(tmp_path):
    """torchvision's DenseNet weight files (downloaded, or given with --weights) name a dense
    layer's parts "norm.1", "conv.2": torchvision's loader renames them, and so does the generated
    load_pretrained."""
    namespace = model_module(load_blueprint(REPO / "blueprints" / "densenet121.yaml"))
    torch.manual_seed(0)
    theirs = torchvision.models.densenet121(weights=None).eval()
    old_names = re.compile(r"(denselayer\d+\.(?:norm|conv))([12])\.")
    state = {  # as in the files of 2017: no batch norm's num_batches_tracked yet
        old_names.sub(r"\1.\2.", k): v
        for k, v in theirs.state_dict().items()
        if not k.endswith("num_batches_tracked")
    }
    assert "features.denseblock1.denselayer1.norm.1.weight" in state

    class File:  # the weights enum's part that torchvision's loader calls
        def get_state_dict(self, **_):
            return dict(state)

    torchvision.models.densenet._load_state_dict(  # the file is as torchvision's own are
        torchvision.models.densenet121(weights=None), File(), progress=False
    )
    torch.save(state, tmp_path / "densenet121.pth")
    ours = namespace["DenseNet"]()
    loaded = namespace["load_pretrained"](ours, str(tmp_path / "densenet121.pth"))
    assert loaded.endswith(f"a state dict of {len(state)} tensors")
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours.eval()(x), theirs(x), rtol=0, atol=1e-4)
