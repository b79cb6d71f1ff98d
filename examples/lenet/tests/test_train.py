"""A short real training run on the CPU, and a resume from its checkpoint."""

import csv

import torch

from lenet import checkpoint, train

SMOKE = [
    "--device", "cpu",
    "--dataset", "synthetic",
    "--epochs", "1",
    "--batch-size", "4",
    "--limit-batches", "2",
]  # fmt: skip


def test_training_writes_metrics_checkpoints_and_curves(tmp_path):
    train.main([*SMOKE, "--out", str(tmp_path)])
    for name in ("metrics.csv", "last.pt", "best.pt", "curves.png"):
        assert (tmp_path / name).is_file(), name
    with open(tmp_path / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1
    assert list(rows[0]) == checkpoint.METRICS + ["val_top5"]
    last = torch.load(tmp_path / "last.pt", weights_only=False)
    assert last["epoch"] == 1 and last["step"] == 0


def test_resume_continues_from_the_checkpoint(tmp_path):
    train.main([*SMOKE, "--out", str(tmp_path)])
    train.main(
        [
            *SMOKE,
            "--epochs",
            "2",
            "--out",
            str(tmp_path),
            "--resume",
            str(tmp_path / "last.pt"),
        ]
    )
    with open(tmp_path / "metrics.csv") as f:
        epochs = [int(row["epoch"]) for row in csv.DictReader(f)]
    assert epochs == list(range(1, len(epochs) + 1)) and len(epochs) > 1
