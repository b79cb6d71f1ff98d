"""Generated projects learn: real CPU training on the built-in synthetic data, in a few minutes."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml
from generated import import_generated

from scaffold.blueprint import blueprint_from_data, load_blueprint
from scaffold.render import new_project

REPO = Path(__file__).resolve().parent.parent


def train(project: Path, package: str, *args: str) -> list[dict]:
    out = project / "runs" / "learning"
    env = {**os.environ, "PYTHONPATH": str(project)}
    command = [
        sys.executable,
        "-m",
        f"{package}.train",
        "--device",
        "cpu",
        "--workers",
        "2",
        "--out",
        str(out),
        *args,
    ]
    done = subprocess.run(
        command, cwd=project, env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr[-3000:]
    with open(out / "metrics.csv") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_mycnn_learns_the_synthetic_shapes(tmp_path):
    """MyCNN as its blueprint says (Adam 1e-2, crops and flips), three epochs: >= 90%."""
    dest = tmp_path / "mycnn"
    new_project(load_blueprint(REPO / "blueprints" / "mycnn.yaml"), dest, "mycnn", git=False)
    rows = train(dest, "mycnn", "--epochs", "3", "--seed", "0")
    best = max(float(row["val_acc"]) for row in rows)
    assert best >= 0.90, rows


@pytest.mark.slow
def test_san_beats_the_majority_answer_by_twenty_points(tmp_path):
    """SAN(LSTM) at 48 px with a small CNN backbone in place of VGG-16 (the blueprint's
    architecture otherwise), on the synthetic questions about shapes."""
    blueprint = yaml.safe_load((REPO / "blueprints" / "san_vgg_lstm.yaml").read_text())
    blueprint["input"]["image"] = {"channels": 3, "height": 48, "width": 48}
    blueprint["model"]["image"] = [
        {"vgg": {"cfg": [16, "M", 32, "M", 64, "M"], "batch_norm": True}},
        {"project_regions": {"out": 64}},
    ]
    blueprint["model"]["question"] = [{"embedding": 32}, {"lstm": 64}]
    blueprint["model"]["head"][0]["stacked_attention"].update({"attention": 32, "dropout": 0.1})
    blueprint["model"]["head"][1] = {"dropout": 0.1}
    blueprint["data"].update(
        {
            "normalize": "half",
            "synthetic": {"train_size": 3000, "val_size": 600},
            "transforms": {"train": [{"resize": [48, 48]}], "eval": [{"resize": [48, 48]}]},
        }
    )
    blueprint["train"] = {
        "seed": 0,
        "epochs": 3,
        "batch_size": 64,
        "optimizer": {"name": "adam", "lr": 0.002},
        "grad_clip": 10.0,
        "schedule": "cosine",
    }
    dest = tmp_path / "san_small"
    new_project(blueprint_from_data(blueprint), dest, "san_small", git=False)
    rows = train(dest, "san_small")
    data = import_generated(dest, "data")
    config = yaml.safe_load((dest / "configs" / "default.yaml").read_text())["data"]
    sets = data.load_datasets(None, config, seed=0)
    answers = Counter(q.answer for q in sets.val.questions)
    majority = answers.most_common(1)[0][1] / len(sets.val)
    best = max(float(row["val_acc"]) for row in rows)
    assert best >= majority + 0.20, (majority, rows)
