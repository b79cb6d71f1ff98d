"""Checkpoints that survive being killed at any moment, holding all a resume needs; metrics."""

import csv
import os
import pickle
import random
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import Refused

METRICS = "epoch train_loss train_acc val_loss val_acc lr seconds img_per_s".split()
STEPS = "epoch step loss lr data_time step_time".split()  # steps.csv, a row every --log-every steps
# Checkpoints of earlier versions of this project hold NumPy's RNG state as an array: what
# rebuilds a NumPy array may run while loading, nothing else
RECONSTRUCT = np.ndarray.__reduce__(np.ndarray(0))[0]  # the function NumPy pickles arrays with
NUMPY_ARRAY = [np.ndarray, np.dtype, type(np.dtype(np.uint32)), RECONSTRUCT]
# best.pt: what evaluation, prediction and --weights read; last.pt holds all a resume needs
BEST = ("blueprint", "model", "ema", "classes", "config", "epoch", "best_acc", "history")


def save(path: Path, state: dict) -> None:
    """Write atomically: a run killed in the middle of this leaves the previous checkpoint."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load(path: Path, blueprint: str, log=print) -> dict:
    """A checkpoint written by training (`log` notes one of another blueprint), read as tensors and
    plain values only (`weights_only`: loading it runs no code)."""
    try:
        with torch.serialization.safe_globals(NUMPY_ARRAY):
            saved = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # foreign: torch's message about it is a page long
        raise Refused(f"{path} is not a readable checkpoint: not a torch file of tensors") from None
    except Exception as error:  # missing or truncated: say which
        raise Refused(f"{path} is not a readable checkpoint: {error}") from None
    if not isinstance(saved, dict) or "blueprint" not in saved:
        raise Refused(f"{path} is not a checkpoint written by training")
    if saved["blueprint"] != blueprint:
        log(f"note: {path} comes from the blueprint {saved['blueprint']!r}, not {blueprint!r}")
    return saved


def load_weights(model: nn.Module, state: dict, source: Path) -> None:
    """The checkpoint's weights into `model`; torch's list of what differs if they do not fit."""
    try:
        model.load_state_dict(state)
    except RuntimeError as error:  # torch's list, on one line
        raise Refused(f"{source} does not fit this model: {' '.join(str(error).split())}") from None


def rng_state() -> dict:
    """This process's random states as tensors and plain values (a checkpoint loads with
    weights_only). NumPy's too: this project draws nothing from it, but augmentations added later
    may."""
    name, keys, position, has_gauss, gauss = np.random.get_state()
    state = {"python": random.getstate(), "torch": torch.get_rng_state()}
    state["numpy"] = [name, keys.tolist(), position, has_gauss, gauss]
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(states: list[dict], rank: int, seed: int) -> None:
    """This rank's RNG states; a rank the checkpoint lacks (more processes) starts from its seed."""
    if rank >= len(states):
        random.seed(seed + rank)
        torch.manual_seed(seed + rank)
        return
    state = states[rank]
    random.setstate(state["python"])
    name, keys, position, has_gauss, gauss = state["numpy"]
    np.random.set_state((name, np.array(keys, dtype=np.uint32), position, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def open_steps(out: Path, epoch: int = 0, step: int = 0):
    """OUT/steps.csv, open to append rows to; rows of steps after `step` of epoch `epoch` (from 0)
    are dropped first: a run resumed from there trains those steps again."""
    path, rows = out / "steps.csv", []
    if path.exists():
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    rows = [row for row in rows if (int(row["epoch"]) - 1, int(row["step"])) <= (epoch, step)]
    with open(out / ".steps.csv.tmp", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=STEPS)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(out / ".steps.csv.tmp", path)
    return open(path, "a", newline="")


def write_metrics(out: Path, history: list[dict], title: str) -> None:
    """metrics.csv, and curves.png: loss and accuracy per epoch."""
    rows = [{k: f"{v:.6g}" if isinstance(v, float) else v for k, v in r.items()} for r in history]
    with open(out / ".metrics.csv.tmp", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(history[0]))  # METRICS, then features'
        writer.writeheader()
        writer.writerows(rows)
    os.replace(out / ".metrics.csv.tmp", out / "metrics.csv")

    from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global figures

    epochs = [row["epoch"] for row in history]
    fig = Figure(figsize=(11, 4), layout="tight")
    axes = fig.subplots(1, 2)
    for ax, key, name in zip(axes, ("loss", "acc"), ("loss", "accuracy")):
        ax.plot(epochs, [row[f"train_{key}"] for row in history], marker=".", label="train")
        ax.plot(epochs, [row[f"val_{key}"] for row in history], marker=".", label="validation")
        ax.set(xlabel="epoch", title=name)
        ax.grid(alpha=0.3)
        ax.legend()
    axes[1].set_ylim(0, 1)
    fig.suptitle(title)
    fig.savefig(out / "curves.png", dpi=100)
