"""The EMA's warm-up of the decay (`train.ema.warmup`, timm's ModelEmaV3 `use_warmup`): added to the
EMA's unit (scaffold/features/ema.py and its partial) and nothing else. Update n of the average
(the first copies the weights) keeps min(decay, 1 - (1 + n)^(-2/3)) of it; timm's ModelEmaV3
computes the same for its step n + 1 (`get_decay`: step - 1 updates so far, gamma 1, power 2/3).
Off by default, with no code then; documented in the README when on; a resume goes on counting."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from generated import import_generated

from scaffold.blueprint import load_blueprint
from scaffold.render import new_project

BLUEPRINT = """
name: {name}
input: {{channels: 1, height: 8, width: 8}}
model:
  layers: [conv: {{out: 4, kernel: 3, padding: 1}}, batchnorm, relu, flatten, linear: classes]
data: {{dataset: synthetic, classes: 3, synthetic: {{train_size: 32, val_size: 8}}}}
train:
  seed: 3
  epochs: 2
  batch_size: 4
  optimizer: {{name: sgd, lr: 0.05, momentum: 0.9}}
  ema: {ema}
"""


@pytest.fixture(scope="module")
def projects(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("ema-warmup")
    made = {}
    for name, ema in (("warm", "{decay: 0.99, warmup: true}"), ("cold", "{decay: 0.99}")):
        (root / f"{name}.yaml").write_text(BLUEPRINT.format(name=name, ema=ema))
        new_project(load_blueprint(root / f"{name}.yaml"), root / name, name, git=False)
        made[name] = root / name
    return made


def timm_decay(decay: float, step: int) -> float:
    """timm's ModelEmaV3.get_decay(step) with use_warmup (defaults: no update_after_step,
    warmup_gamma 1, warmup_power 2/3, min_decay 0); step counts from 1."""
    step = max(0, step - 1)
    if step <= 0:
        return 0.0
    return max(min(1 - (1 + step) ** (-2 / 3), decay), 0.0)


def test_warmup_is_off_by_default_and_leaves_no_code(projects):
    cold = projects["cold"]
    code = (cold / "cold" / "train.py").read_text()
    assert "warmed_up" not in code and "warmup" not in code
    config = yaml.safe_load((cold / "configs" / "default.yaml").read_text())
    assert config["train"]["ema"] == {"decay": 0.99, "every": 1}
    assert "warms up" not in (cold / "README.md").read_text()


def test_warmup_is_in_the_config_and_the_readme(projects):
    warm = projects["warm"]
    config = yaml.safe_load((warm / "configs" / "default.yaml").read_text())
    assert config["train"]["ema"] == {"decay": 0.99, "every": 1, "warmup": True}
    readme = " ".join((warm / "README.md").read_text().split())
    assert "Its decay warms up as timm's ModelEmaV3 `use_warmup` does" in readme
    assert "min(0.99, 1 - (1 + n)^(-2/3))" in readme


def test_warmed_up_average_follows_timm_and_the_setting_switches_it(projects):
    train = import_generated(projects["warm"], "train")
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    settings = {"decay": 0.99, "every": 1, "warmup": True}
    averaged = train.make_ema(model, settings, None)
    plain = train.make_ema(model, settings | {"warmup": False}, None)
    expected = None
    for step in range(1, 31):  # timm's step numbers: the k-th update is step k
        with torch.no_grad():
            for param in model.parameters():
                param.add_(torch.randn_like(param))
        model.train()(torch.randn(4, 3))  # batch norm statistics move too (and its int count)
        averaged.update_parameters(model)
        plain.update_parameters(model)
        current = torch.cat([p.detach().flatten() for p in model.parameters()])
        kept = timm_decay(0.99, step)
        expected = current.clone() if expected is None else kept * expected + (1 - kept) * current
    got = torch.cat([p.flatten() for p in averaged.module.parameters()])
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    unwarmed = torch.cat([p.flatten() for p in plain.module.parameters()])
    assert not torch.allclose(unwarmed, expected, atol=1e-3)  # without it: decay 0.99 throughout
    assert int(averaged.module[1].num_batches_tracked) > 0


def run(project: Path, *args: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(project), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", f"{project.name}.train", "--device", "cpu", *args]
    done = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]


def test_a_resumed_run_warms_up_as_an_uninterrupted_one(projects, tmp_path):
    warm = projects["warm"]
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    run(warm, "--out", str(straight))
    run(warm, "--out", str(resumed), "--epochs", "1")
    run(warm, "--resume", str(resumed / "last.pt"), "--epochs", "2")
    mine, theirs = (torch.load(out / "last.pt", weights_only=True) for out in (resumed, straight))
    assert int(theirs["ema"]["n_averaged"]) == 16  # 2 epochs of 8 steps
    assert all(torch.equal(mine["ema"][key], theirs["ema"][key]) for key in theirs["ema"])
    assert mine["config"]["train"]["ema"]["warmup"] is True
