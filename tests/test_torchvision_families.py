"""torchvision's classic families written as blueprints: their generated models load
torchvision's own state_dicts (random init, `weights=None`: nothing can be downloaded) with
strict=True and give the same outputs, and `model.pretrained` accepts each name exactly when the
layers are torchvision's."""

from __future__ import annotations

import pytest
import torch
import torchvision
from generated import (
    agrees_with_torchvision,
    blueprint_with_layers,
    import_generated,
    model_module,
    project_for,
)

from scaffold.blueprint import load_blueprint
from scaffold.plan import build_plan
from scaffold.presets import TORCHVISION_HEADS, torchvision_layers, torchvision_reference


def _agree(model_class, theirs: torch.nn.Module, size: int) -> None:
    with torch.device("meta"):  # no time spent initialising weights that are replaced anyway
        ours = model_class(num_classes=1000)
    ours.load_state_dict(theirs.state_dict(), strict=True, assign=True)
    ours.eval(), theirs.eval()
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=0)


@pytest.mark.parametrize("name", ["resnext50_32x4d", "wide_resnet50_2", "mobilenet_v2"])
def test_bundled_family_loads_torchvision_weights_strictly_and_agrees(name, generated_root):
    dest, project = project_for(name, generated_root)
    assert project.pretrained.arch == name
    torch.manual_seed(0)
    ours = getattr(import_generated(dest, "model"), project.class_name)
    _agree(ours, getattr(torchvision.models, name)(weights=None), size=64)


@pytest.mark.parametrize("arch", ["resnet34", "alexnet"])
def test_other_architectures_written_as_blueprints_agree_with_torchvision(arch):
    """The layers `model.pretrained` compares with are torchvision's, module for module (VGG's
    features are compared in test_torchvision_compat; its layout with the classifier below)."""
    blueprint = blueprint_with_layers(arch, torchvision_layers(arch))
    model_class = model_module(blueprint)[build_plan(blueprint).class_name]
    _agree(model_class, getattr(torchvision.models, arch)(weights=None), size=64)


# Inception v3's auxiliary classifier takes its 17x17 grid of 299 px inputs (a 5x5 convolution
# after a 5x5 pooling of stride 3); the others, 224 px.
SIZES = {"inception_v3": 299}


@pytest.mark.parametrize("arch", list(TORCHVISION_HEADS))
def test_every_whole_model_architecture_has_torchvision_keys_and_shapes(arch):
    """All of them, on the meta device (no memory, no time): the same state_dict keys and shapes,
    and the blueprint is accepted with `pretrained: torchvision/ARCH`."""
    reference = torchvision_reference(arch)
    size = SIZES.get(arch, 224)
    blueprint = blueprint_with_layers(arch, size=size, **reference)
    plan = build_plan(blueprint)
    with torch.device("meta"):
        ours = model_module(blueprint)[plan.class_name]()
        try:
            theirs = getattr(torchvision.models, arch)(weights=None)
        except NotImplementedError:  # RegNet computes its widths with tensors: not on meta
            theirs = None
    if theirs is None:
        theirs = getattr(torchvision.models, arch)(weights=None)
    # GoogLeNet's and Inception v3's auxiliary classifiers included (their weight files' keys)
    assert {k: v.shape for k, v in ours.state_dict().items()} == {
        k: v.shape for k, v in theirs.state_dict().items()
    }
    with_weights = blueprint_with_layers(arch, size=size, **reference)
    with_weights.model.pretrained = f"torchvision/{arch}"
    loads = build_plan(with_weights).pretrained
    assert [(p.arch, p.head, p.left_out) for p in loads] == [(arch, TORCHVISION_HEADS[arch], ())]
    enum, member = loads[0].weights_enum, loads[0].weights_member
    assert getattr(torchvision.models, enum)[member] in list(
        torchvision.models.get_model_weights(arch)
    )


# torchvision's classification families (torchvision.models' modules) -> the bundled blueprints that
# lay out their models. Each is checked against torchvision's model (strict state_dict load, same
# outputs) in tests/test_family_*.py, test_torchvision_compat.py or above; here, that none is missing.
FAMILY_BLUEPRINTS = {
    "alexnet": ["alexnet"],
    "convnext": ["convnext_tiny", "convnext_small"],
    "densenet": ["densenet121"],
    "efficientnet": ["efficientnet_b0", "efficientnet_b1", "efficientnet_v2_s"],
    "googlenet": ["googlenet"],
    "inception": ["inception_v3"],
    "maxvit": ["maxvit_t"],
    "mnasnet": ["mnasnet1_0"],
    "mobilenetv2": ["mobilenet_v2"],
    "mobilenetv3": ["mobilenet_v3_small", "mobilenet_v3_large"],
    "regnet": ["regnet_y_400mf", "regnet_x_400mf"],
    "resnet": ["resnet18", "resnet50", "resnext50_32x4d", "wide_resnet50_2"],
    "shufflenetv2": ["shufflenet_v2_x1_0"],
    "squeezenet": ["squeezenet1_1"],
    "swin_transformer": ["swin_t", "swin_v2_t"],
    "vgg": ["vgg16_bn"],
    "vision_transformer": ["vit_b_16", "vit_b_32"],
}


def test_every_torchvision_classification_family_has_a_bundled_blueprint():
    """21 families as issue 24 counts them (EfficientNet and EfficientNetV2, ResNet, ResNeXt and
    Wide ResNet, Swin and Swin V2 share torchvision's modules): each model function of torchvision's
    classification models belongs to one module above, and each blueprint named is bundled, named
    after the model, and loads its weights."""
    from conftest import BLUEPRINTS

    bundled = {path.stem: path for path in BLUEPRINTS}
    for family, names in FAMILY_BLUEPRINTS.items():
        for name in names:
            builder = torchvision.models.get_model_builder(name)
            assert builder.__module__ == f"torchvision.models.{family}", (name, builder.__module__)
            assert name in bundled, f"no blueprints/{name}.yaml"
            assert f"pretrained: torchvision/{name}" in bundled[name].read_text()
            assert name in TORCHVISION_HEADS
    classification = {
        torchvision.models.get_model_builder(name).__module__.rsplit(".", 1)[1]
        for name in torchvision.models.list_models(module=torchvision.models)
    }
    assert classification == set(FAMILY_BLUEPRINTS)


def test_every_architecture_with_a_head_has_weights_and_the_other_way_round():
    from scaffold.presets import TORCHVISION_WEIGHTS

    assert set(TORCHVISION_HEADS) == set(TORCHVISION_WEIGHTS)


# torchvision's settings that its pretrained GoogLeNet and Inception v3 take (inputs re-normalised
# as the weights were trained), which their blueprints follow, with the auxiliary classifiers
# that the weight files hold.
WITH_WEIGHTS = {
    name: {"aux_logits": True, "transform_input": True, "init_weights": True}
    for name in ("googlenet", "inception_v3")
}


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for names in FAMILY_BLUEPRINTS.values() for n in names])
def test_every_family_blueprint_is_torchvisions_model_at_its_own_size(name):
    """The family tests compare at small sizes where a model takes any (fast); this, at the size
    each bundled blueprint declares (224 to 384 px)."""
    from generated import REPO

    blueprint = load_blueprint(REPO / "blueprints" / f"{name}.yaml")
    agrees_with_torchvision(blueprint, name, **WITH_WEIGHTS.get(name, {}))
