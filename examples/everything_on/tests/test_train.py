"""Short real training runs on the CPU: what a run writes, and resumes from its checkpoints (with
more epochs, another precision, after SIGTERM); runs never overwrite each other."""

import argparse
import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from everything_on import checkpoint, train

SMOKE = [
    "--device", "cpu",
    "--dataset", "synthetic",
    "--epochs", "1",
    "--batch-size", "4",
    "--limit-batches", "2",
    "--workers", "0",
    "--image-size", "32",
]  # fmt: skip


@pytest.fixture(scope="module")
def quick(tmp_path_factory) -> list[str]:
    """SMOKE's flags with a config of the synthetic data these runs use (at most 2 batches of 4 an
    epoch, one batch to validate on): a run takes seconds."""
    config = yaml.safe_load(train.DEFAULT_CONFIG.read_text(encoding="utf-8"))
    config["data"]["synthetic"] = {"train_size": 16, "val_size": 2}
    path = tmp_path_factory.mktemp("config") / "quick.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return [*SMOKE, "--config", str(path)]


@pytest.fixture(scope="module")
def first(quick, tmp_path_factory) -> Path:
    """A run of 2 steps, in fp32, a row of steps.csv every step; its folder."""
    out = tmp_path_factory.mktemp("first") / "run"
    train.main([*quick, "--precision", "fp32", "--log-every", "1", "--out", str(out)])
    return out


def test_training_writes_metrics_steps_checkpoints_and_curves(first):
    for name in ("metrics.csv", "steps.csv", "last.pt", "best.pt", "curves.png"):
        assert (first / name).is_file(), name
    with open(first / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1
    assert list(rows[0]) == checkpoint.METRICS + [
        "val_top5",
        "val_ema_loss",
        "val_ema_acc",
        "val_ema_top5",
    ]
    with open(first / "steps.csv") as f:
        steps = list(csv.DictReader(f))
    assert list(steps[0]) == checkpoint.STEPS
    assert [(int(row["epoch"]), int(row["step"])) for row in steps] == [(1, 1), (1, 2)]
    assert all(float(row["step_time"]) > 0 and float(row["data_time"]) >= 0 for row in steps)
    last = torch.load(first / "last.pt", weights_only=True)  # tensors and plain values only
    assert last["epoch"] == 1 and last["step"] == 0
    best = torch.load(first / "best.pt", weights_only=True)
    assert list(best) == list(checkpoint.BEST)  # weights, config and metrics: no optimizer state
    assert last["ema"].keys() == {"n_averaged", *(f"module.{key}" for key in last["model"])}
    assert list((first / "tensorboard").glob("events.out.tfevents.*"))


def test_auto_precision_is_bf16_on_a_gpu_with_it_else_fp16_and_fp32_on_a_cpu(monkeypatch):
    run = train.Run("cpu")
    assert run.precision == "fp32"
    run.cuda = True  # what set_precision sees on a GPU
    for bf16, precision in ((True, "bf16"), (False, "fp16")):  # fp16: pre-Ampere GPUs
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: bf16)
        run.set_precision("auto")
        assert run.precision == precision


def one_more_epoch(quick: list[str], out: Path) -> list[str]:
    """Flags that resume the run in `out` for one more epoch."""
    return [*quick, "--epochs", "2", "--resume", str(out / "last.pt")]


def test_resume_for_one_more_epoch_in_another_precision(quick, first, tmp_path):
    """fp16 (loss scaling) after fp32 (none); the run's flags keep the precision."""
    out = shutil.copytree(first, tmp_path / "run")
    train.main([*one_more_epoch(quick, out), "--precision", "fp16", "--limit-batches", "1"])
    with open(out / "metrics.csv") as f:
        assert [int(row["epoch"]) for row in csv.DictReader(f)] == list(range(1, 3))
    saved = torch.load(out / "last.pt", weights_only=True)
    assert saved["flags"]["precision"] == "fp16" and saved["scaler"]["scale"] > 0


def test_a_checkpoint_of_an_earlier_version_resumes(quick, first, tmp_path):
    """Earlier versions kept NumPy's RNG state as an array: such a last.pt still loads (NumPy's
    arrays and nothing else besides tensors and plain values) and resumes."""
    out = shutil.copytree(first, tmp_path / "run")
    flags = one_more_epoch(quick, out)
    saved = torch.load(out / "last.pt", weights_only=True)
    for state in saved["rng"]:
        state["numpy"] = np.random.get_state()
    torch.save(saved, out / "last.pt")
    train.main([*flags, "--limit-batches", "1"])
    assert torch.load(out / "last.pt", weights_only=True)["epoch"] == 2


def test_resume_with_more_epochs_continues_the_schedule(quick, tmp_path):
    """1 epoch, resumed to 3: from epoch 2 on, the learning rates of a straight 3-epoch run (whose
    schedule, warm-up included, differs from the 1-epoch run's)."""
    flags = [*quick, "--limit-batches", "1"]
    train.main([*flags, "--epochs", "1", "--out", str(tmp_path / "one")])
    train.main([*flags, "--epochs", "3", "--resume", str(tmp_path / "one" / "last.pt")])
    train.main([*flags, "--epochs", "3", "--out", str(tmp_path / "three")])
    resumed, straight = (learning_rates(tmp_path / name) for name in ("one", "three"))
    assert len(resumed) == 3 and resumed[1:] == straight[1:]


def learning_rates(out: Path) -> list[float]:
    return [row["lr"] for row in torch.load(out / "last.pt", weights_only=True)["history"]]


def test_runs_never_overwrite_each_other(quick, first, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fresh, run = argparse.Namespace(out=None, resume=None), train.Run("cpu")
    folders = [train.output_folder(fresh, run) for _ in range(2)]  # likely in the same second
    assert folders[0] != folders[1] and all(folder.is_dir() for folder in folders)
    assert all(folder.parent == Path("runs", train.BLUEPRINT) for folder in folders)
    before = (first / "last.pt").read_bytes()
    with pytest.raises(SystemExit, match=f"--out {first} already holds a run .* --resume"):
        train.main([*quick, "--out", str(first)])
    with pytest.raises(SystemExit, match="holds weights only, nothing to resume: resume from"):
        train.main([*quick, "--resume", str(first / "best.pt")])
    assert (first / "last.pt").read_bytes() == before


def test_a_refusal_is_one_line_and_exit_status_2(quick, first):
    """As a command, a refusal (here: an --out that holds a run) prints one line, no traceback, and
    exits with status 2, as a bad flag does; a failure while training exits with status 1."""
    refused = subprocess.run(
        [sys.executable, "-m", "everything_on.train", *quick, "--out", str(first)],
        capture_output=True,
        text=True,
    )
    assert refused.returncode == 2, refused.stderr[-2000:]
    [line] = refused.stderr.splitlines()
    assert line.startswith(
        f"python -m everything_on.train: error: --out {first} already holds a run"
    )


def test_steps_csv_keeps_no_row_past_the_checkpoint_it_resumes_from(tmp_path):
    rows = [
        "epoch,step,loss,lr,data_time,step_time",
        "1,1,2,0.1,0,1",
        "1,2,2,0.1,0,1",
        "2,1,2,0.1,0,1",
    ]
    (tmp_path / "steps.csv").write_text("\n".join(rows) + "\n")
    with checkpoint.open_steps(tmp_path, epoch=1, step=0) as f:  # the checkpoint after epoch 1
        f.write("2,1,1,0.1,0,1\n")
    assert (tmp_path / "steps.csv").read_text().splitlines() == [*rows[:3], "2,1,1,0.1,0,1"]


def test_the_auxiliary_heads_losses_add_to_the_loss_with_their_weights():
    """In training the loss is the class scores' plus the auxiliary heads' times their weights
    (model.py's AUX_WEIGHTS), and its gradients reach every parameter, the heads' too."""
    from everything_on.model import AUX_WEIGHTS, SmallNet

    torch.manual_seed(0)
    model = SmallNet(num_classes=3).train()
    images = torch.randn(2, 3, 32, 32)
    labels = torch.tensor([0, 2])
    criterion = torch.nn.CrossEntropyLoss(label_smoothing=0.1)
    logits, aux_logits = outputs = model(images)
    loss, scores = train.training_loss(criterion, outputs, labels)
    assert len(aux_logits) == len(AUX_WEIGHTS) and scores is logits
    expected = criterion(logits, labels)
    for weight, aux in zip(AUX_WEIGHTS, aux_logits):
        expected = expected + weight * criterion(aux, labels)
    torch.testing.assert_close(loss, expected)
    loss.backward()
    missing = [name for name, param in model.named_parameters() if param.grad is None]
    assert not missing, f"no gradient for {missing}"


def test_sigterm_mid_epoch_stops_after_the_step_and_resumes_exactly(quick, tmp_path):
    """Pre-emption: SIGTERM to a training process during batch 1 of 4 of its epoch
    (two optimizer steps of 2 batches; it sends it to itself): a checkpoint after the
    first optimizer step, and the resumed run ends with the weights and steps.csv of a run never
    stopped."""
    args = [*quick, "--log-every", "1", "--limit-batches", "4"]  # 4 batches an epoch
    out, straight = tmp_path / "stopped", tmp_path / "straight"
    signalled = subprocess.run(
        [sys.executable, "-c", SIGTERM_AT_STEP_1, *args, "--out", str(out)],
        env={**os.environ, "OMP_NUM_THREADS": "1"},  # one thread, as this process below
        capture_output=True,
        text=True,
    )
    assert signalled.returncode == 130 and "--resume" in signalled.stdout, signalled.stderr[-2000:]
    saved = torch.load(out / "last.pt", weights_only=True)
    assert (saved["epoch"], saved["step"]) == (0, 2)  # after optimizer step 1 of epoch 1
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train.main(["--resume", str(out / "last.pt"), "--log-every", "1"])
        train.main([*args, "--out", str(straight)])
    finally:
        torch.set_num_threads(threads)
    mine, theirs = (
        torch.load(run / "last.pt", weights_only=True)["model"] for run in (out, straight)
    )
    assert all(torch.equal(mine[key], theirs[key]) for key in theirs)
    steps = [[row[:2] for row in csv.reader(open(run / "steps.csv"))] for run in (out, straight)]
    assert steps[0] == steps[1] and len(steps[0]) == 1 + 4


# a training process that sends itself SIGTERM during its batch 1
SIGTERM_AT_STEP_1 = """
import os, signal, sys
from everything_on import train

def step_and_signal(*args, step=train.train_step, count=[0]):
    count[0] += 1
    if count[0] == 1:
        os.kill(os.getpid(), signal.SIGTERM)
    return step(*args)

train.train_step = step_and_signal
train.main(sys.argv[1:])
"""
