"""B-CNN's bilinear pooling is computed in true float32, forward and backward: autocast off and TF32
off inside it (training turns TF32 on everywhere else), the setting put back after. On the CPU the
setting changes nothing, so the tests watch what `torch.bmm` is called under;
benchmarks/gpu_check.py measures the numerics on a GPU against float64."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from generated import model_module

from scaffold.blueprint import load_blueprint

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def tf32_on():
    """TF32 on, as training sets it, and the earlier setting put back after. Not monkeypatch:
    torch keeps the setting outside the object's __dict__, which pytest >= 9.2 restores by
    deleting the attribute."""
    before = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = True
    yield
    torch.backends.cuda.matmul.allow_tf32 = before


@pytest.fixture(scope="module")
def model():
    return model_module(load_blueprint(REPO / "blueprints" / "bcnn_vgg16.yaml"))


def reference(x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """The pooling in float64, written out."""
    n, c, h, w = x.shape
    x = x.double().reshape(n, c, h * w)
    x = (x @ x.transpose(1, 2) / (h * w)).reshape(n, c * c)
    x = torch.sign(x) * torch.sqrt(x.abs() + eps)
    return x / x.norm(dim=1, keepdim=True)


def test_products_run_in_float32_with_tf32_off_and_the_setting_comes_back(
    model, tf32_on, monkeypatch
):
    calls, bmm = [], torch.bmm

    def watched(a, b):
        calls.append((torch.backends.cuda.matmul.allow_tf32, a.dtype, b.dtype))
        return bmm(a, b)

    monkeypatch.setattr(torch, "bmm", watched)
    x = torch.rand(2, 8, 5, 5, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # bf16 training
        pooled = model["bilinear_pool"](x.to(torch.bfloat16), eps=1e-5)
    pooled.square().sum().backward()
    # forward and backward: one product each, in float32, with TF32 off
    assert calls == [(False, torch.float32, torch.float32)] * 2
    assert torch.backends.cuda.matmul.allow_tf32 is True
    assert pooled.dtype == torch.float32


def test_pooling_matches_float64_and_its_gradient_is_right(model):
    x = torch.rand(3, 6, 4, 5)
    pooled = model["bilinear_pool"](x, eps=1e-5)
    assert torch.allclose(pooled.double(), reference(x), rtol=1e-5, atol=1e-6)
    # the hand-written backward pass against finite differences, in float64
    inputs = torch.rand(2, 4, 7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(model["MeanOuterProduct"].apply, (inputs,))


def test_the_setting_comes_back_when_the_product_fails(model, tf32_on):
    with pytest.raises(RuntimeError):
        model["bmm_float32"](torch.rand(2, 3, 4), torch.rand(2, 5, 4))  # shapes do not match
    assert torch.backends.cuda.matmul.allow_tf32 is True
