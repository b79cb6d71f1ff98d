"""The model builds, has the blueprint's size, and gives the shapes the blueprint says."""

import pytest
import torch

from bcnn_vgg16.model import BCNN

PARAMETERS = 67143688  # counted by `scaffold inspect` for the blueprint
SIZE = 32  # the model works at any size from 16 px; small is fast


def inputs(batch: int = 2) -> tuple:
    torch.manual_seed(0)
    images = torch.randn(batch, 3, SIZE, SIZE)
    return (images,)


def test_parameter_count_matches_the_blueprint():
    model = BCNN()
    assert sum(p.numel() for p in model.parameters()) == PARAMETERS


def test_output_has_one_score_per_class():
    model = BCNN().eval()
    with torch.no_grad():
        out = model(*inputs())
    assert out.shape == (2, 200)
    assert torch.isfinite(out).all()


def test_gradients_reach_every_parameter():
    model = BCNN().train()
    model(*inputs()).sum().backward()
    missing = [name for name, param in model.named_parameters() if param.grad is None]
    assert not missing, f"no gradient for {missing}"


@pytest.fixture
def tf32_on():
    """TF32 on, as training sets it, and the earlier setting put back after. (Not monkeypatch:
    torch keeps the setting outside the object's __dict__, which pytest >= 9.2 restores by
    deleting the attribute.)"""
    before = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = True
    yield
    torch.backends.cuda.matmul.allow_tf32 = before


def test_bilinear_pooling_multiplies_in_true_float32(tf32_on, monkeypatch):
    """The pooling's products, forward and backward, run in float32 under bf16 autocast with TF32
    off, and leave it on. (On a CPU the setting changes nothing: the test watches what torch.bmm
    is called under.)"""
    from bcnn_vgg16 import model as module

    calls, bmm = [], torch.bmm

    def watched(a, b):
        calls.append((torch.backends.cuda.matmul.allow_tf32, a.dtype, b.dtype))
        return bmm(a, b)

    monkeypatch.setattr(torch, "bmm", watched)
    features = torch.rand(2, 8, 5, 5, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        pooled = module.bilinear_pool(features)
    (pooled * torch.randn(pooled.shape)).sum().backward()
    assert calls == [(False, torch.float32, torch.float32)] * 2  # forward, backward
    assert torch.backends.cuda.matmul.allow_tf32
