"""The generated EMA's warm-up update (`train.ema: {warmup: true}`) against torch's own
get_ema_multi_avg_fn (no warm-up) and the per-tensor loop it replaced, on a torchvision model.

    python benchmarks/bench_ema_warmup.py [--model resnet50] [--device cuda] [--updates 200]

Generates a small project whose blueprint turns the warm-up on, imports its train.make_ema, and
times AveragedModel.update_parameters (the call train.py makes after optimizer steps) for each
update function on the same weights; the device is synchronised around each timing. Prints the
milliseconds an update and each one's ratio to torch's own.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
import torchvision
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from scaffold.blueprint import blueprint_from_data  # noqa: E402
from scaffold.render import new_project  # noqa: E402

BLUEPRINT = {
    "name": "emabench",
    "input": {"channels": 1, "height": 8, "width": 8},
    "model": {"layers": ["flatten", {"linear": "classes"}]},
    "train": {"epochs": 1, "optimizer": {"name": "sgd", "lr": 0.1}, "ema": {"warmup": True}},
}


def per_tensor(decay: float):
    """The warm-up update before: a loop over the tensors, the kept fraction a device tensor."""

    @torch.no_grad()
    def update(averaged: list, current: list, updates: torch.Tensor) -> None:
        kept = torch.clamp(1 - (1 + updates.double()) ** (-2 / 3), max=decay)
        for mean, value in zip(averaged, current):
            mean.copy_(mean * kept + value * (1 - kept))

    return update


def timed(model, average, device: str, updates: int) -> float:
    """Milliseconds an update_parameters call takes, the median of 5 rounds."""
    ema = AveragedModel(model, multi_avg_fn=average, use_buffers=True)
    ema.update_parameters(model)  # the first copies
    rounds = []
    for _ in range(5):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(updates):
            ema.update_parameters(model)
        if device == "cuda":
            torch.cuda.synchronize()
        rounds.append((time.perf_counter() - start) * 1000 / updates)
    return sorted(rounds)[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--updates", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        dest = Path(folder) / "emabench"
        new_project(blueprint_from_data(BLUEPRINT), dest, "emabench", git=False)
        sys.path.insert(0, str(dest))
        from emabench.train import warmed_up

        model = getattr(torchvision.models, args.model)().to(args.device)
        decay = 0.9998
        times = {
            "torch's get_ema_multi_avg_fn": timed(
                model, get_ema_multi_avg_fn(decay), args.device, args.updates
            ),
            "warm-up, generated": timed(model, warmed_up(decay), args.device, args.updates),
            "warm-up, per-tensor loop": timed(model, per_tensor(decay), args.device, args.updates),
        }
    print(f"{args.model} on {args.device}, torch {torch.__version__}")
    base = times["torch's get_ema_multi_avg_fn"]
    for name, ms in times.items():
        print(f"{name:32} {ms:8.3f} ms an update  {ms / base:5.2f}x torch's")


if __name__ == "__main__":
    main()
