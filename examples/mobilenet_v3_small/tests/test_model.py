"""The model builds, has the blueprint's size, and gives the shapes the blueprint says."""

import torch

from mobilenet_v3_small.model import MobileNetV3

PARAMETERS = 2542856  # counted by `scaffold inspect` for the blueprint
SIZE = 32  # the model works at any size from 1 px; small is fast


def inputs(batch: int = 2) -> tuple:
    torch.manual_seed(0)
    images = torch.randn(batch, 3, SIZE, SIZE)
    return (images,)


def test_parameter_count_matches_the_blueprint():
    model = MobileNetV3()
    assert sum(p.numel() for p in model.parameters()) == PARAMETERS


def test_output_has_one_score_per_class():
    model = MobileNetV3().eval()
    with torch.no_grad():
        out = model(*inputs())
    assert out.shape == (2, 1000)
    assert torch.isfinite(out).all()


def test_gradients_reach_every_parameter():
    model = MobileNetV3().train()
    model(*inputs()).sum().backward()
    missing = [name for name, param in model.named_parameters() if param.grad is None]
    assert not missing, f"no gradient for {missing}"
