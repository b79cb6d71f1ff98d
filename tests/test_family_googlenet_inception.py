"""GoogLeNet and Inception v3 as bundled blueprints: their generated models load torchvision's
state_dict strictly, auxiliary classifiers included, and compute the same function as
torchvision's model with the settings of its ImageNet weights (inputs re-normalised to [-1, 1]):
the logits in evaluation, and in training the auxiliary heads' too. GoogLeNet at a smaller size
than its own 224 px, to keep the CPU time short; Inception v3 at its own 299 px, the least its
auxiliary head takes (a 5x5 convolution after a 5x5 pooling of stride 3 of the 17x17 grid)."""

from __future__ import annotations

import pytest
import torch
import torchvision
from generated import REPO, agrees_with_torchvision, model_module

from scaffold.blueprint import blueprint_from_data, load_blueprint
from scaffold.errors import BlueprintError
from scaffold.plan import build_plan

SETTINGS = {"aux_logits": True, "transform_input": True, "init_weights": True}
SIZES = {"googlenet": 96, "inception_v3": 299}


@pytest.mark.parametrize("arch", ["googlenet", "inception_v3"])
def test_bundled_blueprint_agrees_with_torchvision(arch):
    blueprint = load_blueprint(REPO / "blueprints" / f"{arch}.yaml")
    agrees_with_torchvision(blueprint, arch, SIZES[arch], **SETTINGS)


@pytest.mark.parametrize("arch", ["googlenet", "inception_v3"])
def test_in_training_the_auxiliary_heads_are_torchvisions(arch):
    """In training mode, with the same weights and the same random numbers (dropout draws them
    in the same order), the logits and every auxiliary head's scores are torchvision's."""
    blueprint = load_blueprint(REPO / "blueprints" / f"{arch}.yaml")
    plan = build_plan(blueprint)
    torch.manual_seed(0)
    theirs = torchvision.models.get_model(arch, weights=None, **SETTINGS).train()
    with torch.device("meta"):
        ours = model_module(blueprint)[plan.class_name]()
    ours.load_state_dict(theirs.state_dict(), strict=True, assign=True)
    ours.train()
    x = torch.randn(2, 3, SIZES[arch], SIZES[arch])
    with torch.no_grad():
        torch.manual_seed(1)
        logits, aux_logits = ours(x)
        torch.manual_seed(1)
        expected = theirs(x)
    if arch == "googlenet":  # GoogLeNetOutputs(logits, aux_logits2, aux_logits1)
        their_aux = [expected.aux_logits1, expected.aux_logits2]
    else:  # InceptionOutputs(logits, aux_logits)
        their_aux = [expected.aux_logits]
    torch.testing.assert_close(logits, expected.logits, rtol=0, atol=1e-4)
    assert len(aux_logits) == len(their_aux) == len(plan.auxiliary)
    for mine, their in zip(aux_logits, their_aux):
        torch.testing.assert_close(mine, their, rtol=0, atol=1e-4)
    weights = [(head.name, head.weight) for head in plan.auxiliary]
    if arch == "googlenet":
        assert weights == [("aux1", 0.3), ("aux2", 0.3)]  # Szegedy et al. 2015
    else:
        assert weights == [("AuxLogits", 0.4)]  # TF-slim's Inception v3 training


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
    assert (load.arch, load.left_out, load.aux_heads) == ("googlenet", (), ("aux1.fc2", "aux2.fc2"))


def without_auxiliary_heads(tmp_path, name: str = "googlenet"):
    """The bundled blueprint with its `auxiliary` lines removed."""
    text = (REPO / "blueprints" / f"{name}.yaml").read_text("utf-8")
    lines = [line for line in text.splitlines() if not line.startswith("    - auxiliary:")]
    path = tmp_path / f"{name}.yaml"
    path.write_text("\n".join(lines) + "\n", "utf-8")
    return load_blueprint(path)


def test_load_pretrained_loads_every_key_with_the_auxiliary_classifiers(tmp_path):
    """The weights file holds torchvision's auxiliary classifiers (aux1, aux2), and so does the
    bundled GoogLeNet: `load_pretrained` loads every key, and refuses a file that lacks one; with
    other classes, the auxiliary heads' classifiers are left at their start as `fc` is."""
    blueprint = load_blueprint(REPO / "blueprints" / "googlenet.yaml")
    model = model_module(blueprint)
    theirs = torchvision.models.googlenet(weights=None, aux_logits=True, init_weights=False)
    state = theirs.state_dict()
    torch.save(state, tmp_path / "googlenet.pth")
    ours = model["GoogLeNet"]()
    assert model["load_pretrained"](ours, str(tmp_path / "googlenet.pth")).endswith("tensors")
    loaded = ours.state_dict()
    assert set(loaded) == set(state) and all(torch.equal(loaded[k], state[k]) for k in loaded)
    five = model["GoogLeNet"](num_classes=5)
    start = {k: v.clone() for k, v in five.state_dict().items()}
    model["load_pretrained"](five, str(tmp_path / "googlenet.pth"))
    for key, value in five.state_dict().items():
        head = key.startswith(("fc.", "aux1.fc2.", "aux2.fc2."))
        assert torch.equal(value, start[key] if head else state[key]), key
    for key in ("inception5b.branch1.bn.bias", "aux2.conv.bn.bias"):
        other = {k: v for k, v in state.items() if k != key}
        torch.save(other, tmp_path / "other.pth")
        with pytest.raises(ValueError, match=f"missing \\['{key}'\\]"):
            model["load_pretrained"](ours, str(tmp_path / "other.pth"))


def test_without_auxiliary_heads_the_weights_load_leaving_theirs_out(tmp_path):
    """The heads are optional: a GoogLeNet without them is torchvision's model all the same, and
    its `load_pretrained` leaves the file's aux1 and aux2 keys out (they serve only in training);
    its forward returns the logits alone, in training too."""
    blueprint = without_auxiliary_heads(tmp_path)
    plan = build_plan(blueprint)
    assert plan.auxiliary == [] and plan.pretrained[0].left_out == ("aux1.", "aux2.")
    model = model_module(blueprint)
    state = torchvision.models.googlenet(weights=None, aux_logits=True).state_dict()
    torch.save(state, tmp_path / "googlenet.pth")
    ours = model["GoogLeNet"]()
    model["load_pretrained"](ours, str(tmp_path / "googlenet.pth"))
    loaded = ours.state_dict()
    assert set(loaded) == {k for k in state if not k.startswith(("aux1.", "aux2."))}
    assert ours.train()(torch.randn(2, 3, 64, 64)).shape == (2, 1000)


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
