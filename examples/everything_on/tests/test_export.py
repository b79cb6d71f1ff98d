"""Export a trained checkpoint; the exported file gives PyTorch's outputs, at another batch size."""

import numpy as np
import onnxruntime
import pytest
import torch

from everything_on import export, train
from everything_on.evaluate import load_checkpoint

SMOKE = [
    "--device", "cpu",
    "--dataset", "synthetic",
    "--epochs", "1",
    "--batch-size", "4",
    "--limit-batches", "1",
    "--workers", "0",
    "--image-size", "32",
]  # fmt: skip


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A checkpoint of a short training run, its model, and inputs of another batch size (3)."""
    out = tmp_path_factory.mktemp("export")
    train.main([*SMOKE, "--out", str(out)])
    model, saved = load_checkpoint(out / "best.pt", torch.device("cpu"))
    with torch.no_grad():
        inputs = export.example_inputs(saved, batch=3)
        expected = model(*inputs)
    return out / "best.pt", inputs, expected


def test_onnx_in_onnxruntime_gives_the_models_outputs(trained):
    checkpoint, inputs, expected = trained
    export.main(["--checkpoint", str(checkpoint), "--format", "onnx"])
    session = onnxruntime.InferenceSession(str(checkpoint.with_suffix(".onnx")))
    feeds = {i.name: t.numpy() for i, t in zip(session.get_inputs(), inputs)}
    (scores,) = session.run(None, feeds)
    np.testing.assert_allclose(scores, expected.numpy(), rtol=1e-3, atol=1e-4)


def test_torch_export_program_gives_the_models_outputs(trained):
    checkpoint, inputs, expected = trained
    export.main(["--checkpoint", str(checkpoint), "--format", "torch_export"])
    program = torch.export.load(str(checkpoint.with_suffix(".pt2")))
    with torch.no_grad():
        scores = program.module()(*inputs)
    torch.testing.assert_close(scores, expected, rtol=1e-4, atol=1e-5)
