"""The model builds, has the blueprint's size, and gives the shapes the blueprint says."""

import torch

from everything_on.model import SmallNet

PARAMETERS = 5684  # counted by `scaffold inspect` for the blueprint
SIZE = 32  # the model works at any size from 1 px; small is fast


def inputs(batch: int = 2) -> tuple:
    torch.manual_seed(0)
    images = torch.randn(batch, 3, SIZE, SIZE)
    return (images,)


def test_parameter_count_matches_the_blueprint():
    model = SmallNet()
    assert sum(p.numel() for p in model.parameters()) == PARAMETERS


def test_output_has_one_score_per_class():
    model = SmallNet().eval()
    with torch.no_grad():
        out = model(*inputs())
    assert out.shape == (2, 10)
    assert torch.isfinite(out).all()


def test_gradients_reach_every_parameter():
    model = SmallNet().train()
    logits, aux_logits = model(*inputs())  # in training, the auxiliary heads' scores too
    (logits.sum() + sum(aux.sum() for aux in aux_logits)).backward()
    missing = [name for name, param in model.named_parameters() if param.grad is None]
    assert not missing, f"no gradient for {missing}"


def test_the_auxiliary_heads_score_in_training_only():
    """In training the model returns its class scores and the auxiliary heads' (aux); in
    evaluation the class scores alone, a tensor (evaluate, predict and export take it)."""
    model = SmallNet().train()
    logits, aux_logits = model(*inputs())
    assert logits.shape == (2, 10)
    assert [aux.shape for aux in aux_logits] == [(2, 10)] * 1
    model.eval()
    with torch.no_grad():
        assert isinstance(model(*inputs()), torch.Tensor)
