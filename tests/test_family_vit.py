"""Vision Transformers as bundled blueprints (vit_b_16, and vit_b_32 differing in its patches):
each generated model takes torchvision's state_dict strictly and computes the same function; its
attention (F.scaled_dot_product_attention with nn.MultiheadAttention's parameter names) agrees with
nn.MultiheadAttention in training too; the token units refuse what they cannot act on."""

from __future__ import annotations

import pytest
import torch
from conftest import REPO
from generated import agrees_with_torchvision, blueprint_with_layers, model_module

from scaffold.blueprint import load_blueprint
from scaffold.errors import BlueprintError
from scaffold.plan import build_plan
from scaffold.presets import torchvision_reference


@pytest.mark.parametrize("arch, size", [("vit_b_16", 64), ("vit_b_32", 224)])
def test_vit_blueprint_loads_torchvision_weights_strictly_and_agrees(arch, size):
    """vit_b_32 at its own size; vit_b_16 (the same code, but for its patches and its position
    embedding's length) at 64 px, its layers and blocks as bundled, against torchvision's
    vit_b_16(image_size=64): 17 tokens instead of 197 keep the case a few seconds (its keys and
    shapes at 224 px are test_torchvision_families' meta-device check)."""
    bundled = load_blueprint(REPO / "blueprints" / f"{arch}.yaml")
    assert bundled.model.pretrained == f"torchvision/{arch}"
    blueprint = bundled
    if size != bundled.image.height:
        blueprint = blueprint_with_layers(arch, size=size, **torchvision_reference(arch))
    agrees_with_torchvision(blueprint, arch, image_size=size)


def test_self_attention_is_multihead_attention_in_training_too():
    """Gradients as well as outputs: the unit is nn.MultiheadAttention (batch_first, no weights
    returned) with the same parameters, in training mode (dropout-free) on a short sequence."""
    layers = [
        {"conv": {"out": 32, "kernel": 8, "stride": 8, "name": "proj"}},
        "flatten_patches",
        {"self_attention": {"heads": 4, "name": "attn"}},
        "select_token",
        {"linear": "classes"},
    ]
    blueprint = blueprint_with_layers("attn", layers, size=32, classes=3)
    model = model_module(blueprint)[build_plan(blueprint).class_name]()
    ours = model.attn.train()
    theirs = torch.nn.MultiheadAttention(32, 4, batch_first=True)
    theirs.load_state_dict(ours.state_dict(), strict=True)
    x = torch.randn(2, 16, 32, requires_grad=True)
    x2 = x.detach().clone().requires_grad_()
    expected = theirs(x2, x2, x2, need_weights=False)[0]
    torch.testing.assert_close(ours(x), expected, rtol=0, atol=1e-5)
    ours(x).square().sum().backward()
    expected.square().sum().backward()
    torch.testing.assert_close(x.grad, x2.grad, rtol=0, atol=1e-5)
    torch.testing.assert_close(
        ours.in_proj_weight.grad, theirs.in_proj_weight.grad, atol=1e-4, rtol=0
    )


@pytest.mark.parametrize(
    "layers, message",
    [
        ([{"self_attention": 4}], "self_attention needs a sequence of vectors but gets an image"),
        (["class_token"], "class_token needs a sequence of vectors but gets an image"),
        (
            [
                {"conv": {"out": 30, "kernel": 8, "stride": 8}},
                "flatten_patches",
                {"self_attention": 4},
            ],
            "30 features do not divide into 4 heads",
        ),
        (
            [
                {"conv": {"out": 8, "kernel": 8, "stride": 8}},
                "flatten_patches",
                {"select_token": 16},
            ],
            "index 16 of a sequence of 16",
        ),
        (["flatten", "flatten_patches"], "flatten_patches needs a C x H x W image input"),
    ],
)
def test_token_units_refuse_what_they_cannot_act_on(layers, message):
    blueprint = blueprint_with_layers("bad", layers, size=32, classes=3)
    with pytest.raises(BlueprintError) as caught:
        build_plan(blueprint)
    assert message in str(caught.value)


def test_no_weight_decay_on_norm_takes_layer_norms():
    """`no_weight_decay: [norm]` leaves out the layer norms a ViT has (the generated
    weight_decay_groups exempts batch, layer and group norm alike), where a model without any
    normalisation is refused."""
    from scaffold.blueprint import blueprint_from_data

    def plan(layers):
        data = {
            "name": "decay",
            "input": {"channels": 3, "height": 32, "width": 32},
            "model": {"layers": layers},
            "data": {"classes": 3},
            "train": {
                "epochs": 1,
                "optimizer": {"name": "adamw", "lr": 1e-3, "weight_decay": 0.05},
                "no_weight_decay": ["norm"],
            },
        }
        return build_plan(blueprint_from_data(data))

    patches = [{"conv": {"out": 16, "kernel": 8, "stride": 8}}, "flatten_patches"]
    plan([*patches, {"layer_norm": {"eps": 1e-6}}, "select_token", {"linear": "classes"}])
    with pytest.raises(BlueprintError, match="no normalisation layers"):
        plan([*patches, "select_token", {"linear": "classes"}])
