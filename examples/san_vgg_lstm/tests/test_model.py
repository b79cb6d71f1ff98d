"""The model builds, has the blueprint's size, and gives the shapes the blueprint says."""

import torch

from san_vgg_lstm.model import SAN

PARAMETERS = 29614698  # counted by `scaffold inspect` for the blueprint
SIZE = 32  # the model works at any size from 32 px; small is fast


def inputs(batch: int = 2) -> tuple:
    torch.manual_seed(0)
    images = torch.randn(batch, 3, SIZE, SIZE)
    # the second one padded
    questions = torch.tensor([[5, 6, 7, 8], [9, 10, 0, 0]])[:batch]
    return images, questions


def test_parameter_count_matches_the_blueprint():
    model = SAN()
    assert sum(p.numel() for p in model.parameters()) == PARAMETERS


def test_output_has_one_score_per_answer():
    model = SAN().eval()
    with torch.no_grad():
        out = model(*inputs())
    assert out.shape == (2, 1000)
    assert torch.isfinite(out).all()


def test_gradients_reach_every_parameter():
    model = SAN().train()
    model(*inputs()).sum().backward()
    missing = [name for name, param in model.named_parameters() if param.grad is None]
    assert not missing, f"no gradient for {missing}"


def test_padding_does_not_leak():
    """A padded batch gives every question the same output as running it alone."""
    model = SAN().eval()
    images, questions = inputs()
    with torch.no_grad():
        together = model(images, questions)
        alone = model(images[1:], questions[1:, :2])
    torch.testing.assert_close(together[1:], alone, rtol=1e-4, atol=1e-5)
