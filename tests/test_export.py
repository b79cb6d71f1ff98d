"""`python -m PKG.export`: a trained LeNet and a small stacked attention network written as ONNX
and as a torch.export program; the ONNX file runs in onnxruntime and gives PyTorch's outputs
(here and in the project's own test), and a project exports only the formats its blueprint names."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from generated import REPO, import_generated, small_san

from scaffold.blueprint import blueprint_from_data
from scaffold.render import new_project


def lenet(export) -> dict:
    blueprint = yaml.safe_load((REPO / "blueprints" / "lenet.yaml").read_text())
    return {**blueprint, "export": export}


SAN = small_san(
    "sanexport",
    answers=10,
    train={"epochs": 1, "batch_size": 4, "optimizer": {"name": "sgd", "lr": 0.01}},
    export=True,
)


def generate(blueprint: dict, dest: Path, name: str) -> Path:
    new_project(blueprint_from_data({**blueprint, "name": name}), dest / name, name, git=False)
    return dest / name


def run(command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def trained_lenet(tmp_path_factory):
    """A LeNet project with `export: true`, and the checkpoint of a two-step training run."""
    dest = generate(lenet(True), tmp_path_factory.mktemp("export"), "lenetexport")
    smoke = ["--device", "cpu", "--dataset", "synthetic", "--epochs", "1", "--batch-size", "4"]
    smoke += ["--limit-batches", "2", "--out", str(dest / "run")]
    run([sys.executable, "-m", "lenetexport.train", *smoke], dest)
    return dest, dest / "run" / "best.pt"


def test_the_export_command_writes_onnx_that_onnxruntime_runs_as_pytorch(trained_lenet):
    import onnxruntime

    dest, checkpoint = trained_lenet
    command = [sys.executable, "-m", "lenetexport.export", "--checkpoint", str(checkpoint)]
    said = run([*command, "--format", "onnx"], dest).stdout
    assert f"wrote {checkpoint.with_suffix('.onnx')} (onnx)" in said
    model, _ = import_generated(dest, "evaluate").load_checkpoint(checkpoint, torch.device("cpu"))
    data = import_generated(dest, "data")
    images = data.normalize(torch.randint(0, 256, (5, 1, 32, 32), dtype=torch.uint8))
    session = onnxruntime.InferenceSession(str(checkpoint.with_suffix(".onnx")))
    (scores,) = session.run(None, {"image": images.numpy()})  # 5: not the example's batch
    with torch.no_grad():
        expected = model(images).numpy()
    np.testing.assert_allclose(scores, expected, rtol=1e-3, atol=1e-4)
    assert (scores.argmax(1) == expected.argmax(1)).all()


def test_the_export_command_writes_a_torch_export_program(trained_lenet):
    dest, checkpoint = trained_lenet
    out = dest / "lenet.pt2"
    command = [sys.executable, "-m", "lenetexport.export", "--checkpoint", str(checkpoint)]
    run([*command, "--format", "torch_export", "--out", str(out)], dest)
    program = torch.export.load(str(out))
    model, _ = import_generated(dest, "evaluate").load_checkpoint(checkpoint, torch.device("cpu"))
    images = torch.randn(3, 1, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(program.module()(images), model(images))


def test_every_command_refuses_a_file_in_one_line_with_exit_status_2(trained_lenet):
    """A file the command cannot use: one line on stderr that names it, exit status 2, no
    traceback, from export, evaluate, predict and bench alike (the project's own test_train.py
    checks train's)."""
    dest, _ = trained_lenet
    (dest / "notes.txt").write_text("not weights")
    commands = {
        "export": ["--checkpoint", "notes.txt"],
        "evaluate": ["--checkpoint", "notes.txt"],
        "predict": ["--checkpoint", "notes.txt", "--image", "notes.txt"],
        "bench": ["--config", "notes.txt"],  # a config without the settings
    }
    env = {**os.environ, "PYTHONPATH": str(dest)}
    for command, flags in commands.items():
        module = f"lenetexport.{command}"
        argv = [sys.executable, "-m", module, *flags]
        done = subprocess.run(argv, cwd=dest, capture_output=True, text=True, env=env)
        assert done.returncode == 2, done.stderr[-3000:]
        [line] = done.stderr.splitlines()
        assert line.startswith(f"python -m {module}: error: notes.txt"), line


@pytest.mark.parametrize("blueprint", ["lenet", "san"])
def test_the_projects_own_export_tests_pass(blueprint, tmp_path):
    """The generated tests/test_export.py: ONNX in onnxruntime and the torch.export program
    against PyTorch, after a short training run (for the SAN: image and question inputs)."""
    dest = generate(lenet(True) if blueprint == "lenet" else SAN, tmp_path, "exported")
    tests = (dest / "tests" / "test_export.py").read_text()
    assert "onnxruntime.InferenceSession" in tests and "torch.export.load" in tests
    pytest_run = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    said = run([*pytest_run, "tests/test_export.py"], dest).stdout
    assert "2 passed" in said
    for check in (
        ["black", "--check", "-q"],
        ["ruff", "check", "-q", "--isolated", "--select", "F"],
    ):
        run([sys.executable, "-m", *check, "exported/export.py", "tests/test_export.py"], dest)


def test_a_project_exports_only_the_formats_its_blueprint_names(tmp_path):
    dest = generate(lenet(["onnx"]), tmp_path, "onnxonly")
    code = (dest / "onnxonly" / "export.py").read_text()
    assert "torch.onnx.export" in code and "torch.export" not in code.replace(
        "torch.onnx.export", ""
    )
    tests = (dest / "tests" / "test_export.py").read_text()
    assert "onnxruntime" in tests and "torch_export" not in tests
    assert 'SUFFIXES = {"onnx": ".onnx"}' in code
    readme = (dest / "README.md").read_text()
    assert "python -m onnxonly.export --checkpoint runs/onnxonly/best.pt --format onnx`" in readme
    assert 'export = ["onnx>=1.16", "onnxruntime>=1.18"]' in (dest / "pyproject.toml").read_text()
    plain = generate(lenet(False), tmp_path, "noexport")
    assert not (plain / "noexport" / "export.py").exists()
    assert not (plain / "tests" / "test_export.py").exists()
