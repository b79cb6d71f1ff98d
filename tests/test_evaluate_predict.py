"""A generated project's evaluation under torchrun: two CPU processes (gloo) evaluate every sample
exactly once, and the first prints (and writes) what one process does. (The flags of evaluate and
predict are tested in every generated project's own tests/test_evaluate_predict.py.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from generated import import_generated, small_san
from torchvision.io import write_png

from scaffold.blueprint import blueprint_from_data
from scaffold.render import new_project

NET = {
    "name": "evalnet",
    "input": {"channels": 3, "height": 16, "width": 16},
    "model": {
        "layers": [
            {"conv": {"out": 8, "kernel": 3, "padding": 1}},
            "relu",
            {"maxpool": 2},
            "flatten",
            {"linear": "classes"},
        ]
    },
    # 61 validation samples: 31 and 30 over two processes, none twice
    "data": {
        "dataset": "image_folder",  # files: no resizing to a source size before the transforms
        "classes": 10,
        "synthetic": {"train_size": 64, "val_size": 61},
        "transforms": {"train": [{"resize": [16, 16]}], "eval": [{"resize": [16, 16]}]},
    },
    "train": {"epochs": 1, "batch_size": 8, "optimizer": {"name": "sgd", "lr": 0.05}},
}
SAN = small_san(
    "evalsan",
    answers=5,
    train={"epochs": 1, "batch_size": 4, "optimizer": {"name": "sgd", "lr": 0.01}},
)
SAN["data"]["synthetic"] = {"train_size": 16, "val_size": 13}


def run(command: list[str], cwd: Path) -> str:
    env = {**os.environ, "PYTHONPATH": str(cwd), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


@pytest.mark.parametrize(
    "blueprint",
    [NET, pytest.param(SAN, marks=pytest.mark.slow)],  # slow: a minute more on 2 cores
    ids=["classes", "vqa"],
)
def test_evaluate_under_torchrun_counts_every_sample_once(blueprint, tmp_path, capsys):
    name, vqa = blueprint["name"], blueprint is SAN
    dest = tmp_path / name
    new_project(blueprint_from_data(blueprint), dest, name, git=False)
    workers = ["--workers", "0"]
    train = ["--device", "cpu", "--limit-batches", "2", "--out", str(tmp_path / "run"), *workers]
    import_generated(dest, "train").main(train)
    evaluate = ["--checkpoint", str(tmp_path / "run" / "best.pt"), "--device", "cpu"]
    evaluate += ["--batch-size", "4", *workers]
    out = {n: [] if vqa else ["--out", str(tmp_path / str(n))] for n in (1, 2)}
    capsys.readouterr()
    import_generated(dest, "evaluate").main([*evaluate, *out[1]])
    alone = capsys.readouterr().out
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    shared = run([*torchrun, "-m", f"{name}.evaluate", *evaluate, *out[2]], dest)
    reports = []
    for said, processes in ((alone, 1), (shared, 2)):
        first, *report = said.replace(str(tmp_path / str(processes)), "OUT").splitlines()
        assert ("2 processes" if processes > 1 else "one process") in first
        reports.append(report)
    assert reports[1] == reports[0]  # printed once, by the first process, with every sample
    samples = blueprint["data"]["synthetic"]["val_size"]
    assert any(line.endswith(f" of {samples})") for line in reports[1]), reports[1]
    if not vqa:
        csvs = [(tmp_path / str(n) / "per_class.csv").read_text() for n in (1, 2)]
        assert csvs[0] == csvs[1]
        # resize: [16, 16] sets both sides of an image of another shape (not the shorter one)
        image = tmp_path / "wide.png"
        write_png(torch.zeros(3, 20, 30, dtype=torch.uint8), str(image))
        import_generated(dest, "predict").main(evaluate[:4] + [str(image), "--top", "2"])
        assert len(capsys.readouterr().out.splitlines()) == 2
