"""GoogLeNet and Inception v3 as bundled blueprints: their generated models load torchvision's
state_dict strictly and compute the same function as torchvision's model with the settings of its
ImageNet weights (no auxiliary classifiers, inputs re-normalised to [-1, 1]); at smaller sizes
than their own (224 and 299 px), which both take, to keep the CPU time short."""

from __future__ import annotations

import pytest
import torch
import torchvision
from generated import REPO, agrees_with_torchvision, model_module

from scaffold.blueprint import blueprint_from_data, load_blueprint
from scaffold.errors import BlueprintError
from scaffold.plan import build_plan

SETTINGS = {"aux_logits": False, "transform_input": True, "init_weights": True}


@pytest.mark.parametrize(("arch", "size"), [("googlenet", 96), ("inception_v3", 107)])
def test_bundled_blueprint_agrees_with_torchvision(arch, size):
    blueprint = load_blueprint(REPO / "blueprints" / f"{arch}.yaml")
    agrees_with_torchvision(blueprint, arch, size, **SETTINGS)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("    - renormalize: {source: imagenet, target: half}", ""),
            "its weights take `half` inputs, not imagenet: start the layers with "
            "`renormalize: {source: imagenet, target: half}` (torchvision's transform_input)",
        ),
        (
            ("normalize: imagenet", "normalize: half"),
            "the first layer takes `imagenet` inputs, but the data's are half",
        ),
    ],
)
def test_pretrained_weights_need_the_inputs_they_were_trained_on(change, message, tmp_path):
    """GoogLeNet's and Inception v3's weights take [-1, 1] inputs: a blueprint whose model sees
    others is refused by name (it would load the weights and compute another function)."""
    text = (REPO / "blueprints" / "googlenet.yaml").read_text("utf-8")
    assert change[0] in text
    path = tmp_path / "googlenet.yaml"
    path.write_text(text.replace(change[0], change[1]), "utf-8")
    with pytest.raises(BlueprintError) as refused:
        build_plan(load_blueprint(path))
    [problem] = refused.value.problems
    assert problem.field == "model.pretrained"
    assert problem.message == f"the layers do not match torchvision's googlenet: {message}"


def test_without_renormalizing_data_normalised_to_half_loads_the_weights(tmp_path):
    text = (REPO / "blueprints" / "googlenet.yaml").read_text("utf-8")
    text = text.replace("normalize: imagenet", "normalize: half")
    path = tmp_path / "googlenet.yaml"
    path.write_text(text.replace("    - renormalize: {source: imagenet, target: half}", ""))
    [load] = build_plan(load_blueprint(path)).pretrained
    assert (load.arch, load.left_out) == ("googlenet", ("aux1.", "aux2."))


def test_load_pretrained_leaves_out_the_auxiliary_classifiers(tmp_path):
    """The weights file holds torchvision's auxiliary classifiers (aux1, aux2): the generated
    `load_pretrained` loads every other key, and refuses a file that lacks one."""
    blueprint = load_blueprint(REPO / "blueprints" / "googlenet.yaml")
    model = model_module(blueprint)
    theirs = torchvision.models.googlenet(weights=None, aux_logits=True, init_weights=False)
    state = theirs.state_dict()
    assert any(k.startswith("aux1.") for k in state)
    torch.save(state, tmp_path / "googlenet.pth")
    ours = model["GoogLeNet"]()
    assert model["load_pretrained"](ours, str(tmp_path / "googlenet.pth")).endswith("tensors")
    loaded = ours.state_dict()
    assert all(torch.equal(loaded[k], state[k]) for k in loaded)
    del state["inception5b.branch1.bn.bias"]
    torch.save(state, tmp_path / "other.pth")
    with pytest.raises(ValueError, match="missing \\['inception5b.branch1.bn.bias'\\]"):
        model["load_pretrained"](ours, str(tmp_path / "other.pth"))


@pytest.mark.parametrize(
    ("layers", "message"),
    [
        (
            [{"renormalize": {"source": "imagenet", "target": "half"}}],
            "imagenet (3 channels) to half (3 channels) does not fit the input 1x8x8",
        ),
        (
            [{"basic_conv2d": {"out": 8, "kernel": [1, 9]}}],
            "input 1x8x8 is smaller than kernel 1x9",
        ),
    ],
)
def test_the_units_refuse_what_they_cannot_do(layers, message):
    blueprint = blueprint_from_data(
        {
            "name": "x",
            "input": {"channels": 1, "height": 8, "width": 8},
            "model": {"layers": [*layers, "flatten", {"linear": "classes"}]},
            "data": {"classes": 2},
            "train": {"epochs": 1},
        }
    )
    with pytest.raises(BlueprintError) as refused:
        build_plan(blueprint)
    [problem] = refused.value.problems
    kind = next(iter(layers[0]))
    assert (problem.field, problem.message) == (f"model.layers[0] ({kind})", message)
