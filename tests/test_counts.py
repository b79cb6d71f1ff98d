"""`scaffold inspect`'s figures are torch's (inspect prints the plan's totals: test_cli checks
that): for every bundled blueprint and the classic families, each module's parameters exactly,
and the multiply-adds within 1% of torch.utils.flop_counter, which counts 2 FLOPs per
multiply-add of convolutions, matrix products (linear layers, attention) and the LSTM's gates,
and nothing else: batch norm, activations, pooling and additions count as 0 on both sides.

The generated model.py (rendered from the template) runs on the meta device, which computes
shapes and counts without memory or time, at the blueprint's own size; B-CNN's float32 autocast
region has no meta version, so it runs on the CPU at 64 px.
"""

from __future__ import annotations

import pytest
import torch
from conftest import BLUEPRINTS
from generated import blueprint_with_layers, model_module
from torch.utils.flop_counter import FlopCounterMode

from scaffold.blueprint import load_blueprint
from scaffold.plan import build_plan
from scaffold.presets import torchvision_layers

ON_CPU = {"bcnn_vgg16": 64}  # blueprint: image size


def check_counts(blueprint, size: int | None = None) -> None:
    plan = build_plan(blueprint, (size, size) if size else None)
    model_class = model_module(blueprint)[plan.class_name]
    device = "cpu" if size else "meta"
    with torch.device(device):
        torch.manual_seed(0)
        model = model_class().eval()
        inputs = [torch.randn(1, *plan.input_shapes["image"].dims)]
        if plan.is_vqa:
            inputs.append(torch.ones(1, *plan.input_shapes["question"].dims, dtype=torch.long))
    for row in plan.rows:
        if row.module:
            try:
                module = model.get_submodule(row.module)
            except AttributeError:  # a parameter of its own (a residual's layer scale)
                assert model.get_parameter(row.module).numel() == row.params, row
                continue
            assert sum(p.numel() for p in module.parameters()) == row.params, row
    assert sum(p.numel() for p in model.parameters()) == plan.total_params
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        out = model(*inputs)
    assert tuple(out.shape) == (1, *plan.output_shape.dims)
    macs = counter.get_total_flops() // 2
    assert abs(plan.total_macs - macs) <= 0.01 * macs, (plan.total_macs, macs)


@pytest.mark.parametrize("path", BLUEPRINTS, ids=lambda p: p.stem)
def test_bundled_blueprint_counts_are_torchs(path):
    check_counts(load_blueprint(path), ON_CPU.get(path.stem))


@pytest.mark.parametrize("arch", ["alexnet", "vgg16_bn", "resnet152", "resnext101_64x4d"])
def test_family_counts_are_torchs(arch):
    check_counts(blueprint_with_layers(arch, torchvision_layers(arch)))
