"""The training features a blueprint may switch on (issue 16), each shown by its effect on real
data: scikit-learn's handwritten digits (1,797 real 8x8 images), on the CPU.

- model EMA: its weights differ from the raw ones, are evaluated every epoch, checkpointed, and
  `evaluate --ema` gives the accuracy training logged for them;
- gradient accumulation: k batches of b give the step one batch of k*b gives; under DDP the
  accumulating batches skip the all-reduce (`no_sync`), and two processes of b give the weights of
  one process of 2*b;
- no weight decay on norm and bias: the groups hold exactly those parameters, which a step of
  pure weight decay leaves as they are;
- a per-step warm-up and cosine schedule: the learning rate of every step follows the formula;
- top-5 accuracy: a `val_top5` column, at least `val_acc`;
- TensorBoard: an event file with every number of metrics.csv and the per-step loss and rate;
- synchronised batch norm: SyncBatchNorm under DDP on GPUs, plain batch norm otherwise;
- the deterministic switch: switched on, and two runs end with identical weights.

A project whose blueprint leaves them off holds none of their code.
"""

from __future__ import annotations

import csv
import math
import os
import re
import signal
import subprocess
import sys
from argparse import Namespace
from pathlib import Path

import pytest
import torch
import yaml
from digits import digits_folder
from generated import import_generated
from torch import nn

from scaffold.blueprint import load_blueprint
from scaffold.render import new_project

ALL_ON = """
name: allon
input: {channels: 1, height: 8, width: 8}
model:
  layers: [conv: {out: 8, kernel: 3, padding: 1}, batchnorm, relu, flatten, linear: classes]
data:
  dataset: image_folder
  classes: 10
  transforms: {train: [resize: [8, 8]], eval: [resize: [8, 8]]}
train:
  seed: 1
  epochs: 2
  batch_size: 16
  optimizer: {name: sgd, lr: 0.1, momentum: 0.9, weight_decay: 0.0005}
  schedule: {name: cosine, warmup_epochs: 1, warmup_factor: 0.1, interval: step}
  ema: {decay: 0.9, every: 2}
  grad_accum_steps: 2
  no_weight_decay: [norm, bias]
  tensorboard: true
  sync_bn: true
  deterministic: true
"""

# the same model and data without the features (and 5 classes: no top-5 either)
PLAIN = """
name: plain
input: {channels: 1, height: 8, width: 8}
model:
  layers: [conv: {out: 8, kernel: 3, padding: 1}, batchnorm, relu, flatten, linear: classes]
data:
  dataset: image_folder
  classes: 5
  transforms: {train: [resize: [8, 8]], eval: [resize: [8, 8]]}
train:
  seed: 1
  epochs: 2
  batch_size: 16
  optimizer: {name: sgd, lr: 0.1, momentum: 0.9, weight_decay: 0.0005}
  schedule: {name: cosine, warmup_epochs: 1}
"""

# no batch norm, no dropout: batches of one step may be split without changing the step
ACCUM = """
name: accum
input: {channels: 1, height: 8, width: 8}
model:
  layers: [conv: {out: 8, kernel: 3, padding: 1}, relu, flatten, linear: classes]
data:
  dataset: image_folder
  classes: 10
  transforms: {train: [resize: [8, 8]], eval: [resize: [8, 8]]}
train:
  seed: 2
  epochs: 1
  batch_size: 8
  optimizer: {name: sgd, lr: 0.1, momentum: 0.9, weight_decay: 0.0005}
  grad_accum_steps: 4
"""

# words of each feature's code: none may appear in a project that leaves the features off
FEATURE_WORDS = [
    "AveragedModel", "ema", "EMA", "no_sync", "grad_accum", "weight_decay_groups", "NORMS",
    "SummaryWriter", "tensorboard", "SyncBatchNorm", "synchronize_batch_norm",
    "use_deterministic_algorithms", "CUBLAS", "deterministic", "topk(min(5", "top5", "warmup_factor",
]  # fmt: skip


@pytest.fixture(scope="module")
def digits_root(tmp_path_factory) -> Path:
    """train/DIGIT/*.png and val/DIGIT/*.png of every load_digits image, at its own 8x8."""
    return digits_folder(tmp_path_factory.mktemp("digits"), size=8)


@pytest.fixture(scope="module")
def projects(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("features")
    made = {}
    for name, text in (("allon", ALL_ON), ("plain", PLAIN), ("accum", ACCUM)):
        (root / f"{name}.yaml").write_text(text)
        new_project(load_blueprint(root / f"{name}.yaml"), root / name, name, git=False)
        made[name] = root / name
    return made


def run(project: Path, args: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(project), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        args, cwd=project, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def train_command(package: str, data: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", f"{package}.train", "--data-root", str(data), "--device", "cpu",
            "--workers", "0", "--out", str(out), *extra]  # fmt: skip


ALLON_FLAGS = ("--limit-batches", "20", "--log-every", "2")  # 2 epochs of 10 optimizer steps


@pytest.fixture(scope="module")
def allon_runs(projects, digits_root, tmp_path_factory) -> list[Path]:
    """Two identical runs of the project with every feature on (deterministic: the same weights)."""
    outs = [tmp_path_factory.mktemp(f"allon-run{i}") for i in range(2)]
    for out in outs:
        run(projects["allon"], train_command("allon", digits_root, out, *ALLON_FLAGS))
    return outs


def metrics(out: Path) -> list[dict]:
    with open(out / "metrics.csv") as f:
        return list(csv.DictReader(f))


def package_text(project: Path) -> str:
    return "\n".join(path.read_text() for path in sorted((project / project.name).glob("*.py")))


# --- features left off ------------------------------------------------------------------------


def test_features_left_off_leave_no_code(projects):
    plain = projects["plain"]
    code = package_text(plain)
    assert [word for word in FEATURE_WORDS if word in code] == []
    config = (plain / "configs" / "default.yaml").read_text()
    assert [word for word in FEATURE_WORDS if word in config] == []
    assert "tensorboard" not in (plain / "pyproject.toml").read_text()
    readme = (plain / "README.md").read_text()
    assert "training recipe also has" not in readme and "val_top5" not in readme
    assert 'make_schedule(optimizer, train["schedule"], train["epochs"])' in code


def test_features_switched_on_are_in_the_project_and_its_readme(projects):
    allon = projects["allon"]
    assert '"tensorboard>=' in (allon / "pyproject.toml").read_text()
    readme = " ".join((allon / "README.md").read_text().split())
    for words in ("**Model EMA**", "decay 0.9, updated every 2 optimizer steps",
                  "**Gradient accumulation**: the gradients of 2 batches", "**No weight decay**",
                  "**A per-step schedule**", "**Top-5 accuracy**", "**TensorBoard**",
                  "**Synchronised batch norm**", "**Deterministic algorithms**",
                  "val_top5, val_ema_loss, val_ema_acc, val_ema_top5"):  # fmt: skip
        assert words in readme
    for tool in (
        ["black", "--check", "-q", "-l", "100"],
        ["ruff", "check", "-q", "--no-cache", "--select", "F", "--isolated"],
    ):
        subprocess.run([sys.executable, "-m", *tool, str(allon)], check=True)  # fmt: skip


# --- model EMA ----------------------------------------------------------------------------------


def test_ema_weights_differ_and_are_evaluated_and_checkpointed(projects, allon_runs, capsys):
    out = allon_runs[0]
    rows = metrics(out)
    saved = torch.load(out / "last.pt", weights_only=False)
    ema = saved["ema"]
    assert int(ema["n_averaged"]) == 10  # 20 optimizer steps, every 2nd
    differ = [k for k, v in saved["model"].items() if not torch.equal(v, ema[f"module.{k}"])]
    assert "0.weight" in differ or any(k.endswith("weight") for k in differ), differ
    assert all(row["val_ema_acc"] for row in rows)
    evaluate = import_generated(projects["allon"], "evaluate")
    for flags, column in (([], "val_acc"), (["--ema"], "val_ema_acc")):
        # training's validation: 20 batches of 16 (--limit-batches limits both)
        limit = ["--batch-size", "16", "--limit-batches", "20"]
        evaluate.main(["--checkpoint", str(out / "last.pt"), "--device", "cpu", *limit, *flags])
        printed = re.search(
            r"^accuracy: ([\d.]+) \((\d+) of (\d+)\)", capsys.readouterr().out, re.M
        )
        correct, count = int(printed[2]), int(printed[3])
        assert correct / count == pytest.approx(float(rows[-1][column]), abs=1e-5), flags


def test_a_run_stopped_mid_epoch_resumes_to_the_same_weights_and_average(
    projects, digits_root, allon_runs, tmp_path
):
    """Ctrl-C during the first epoch stops between two optimizer steps (never inside an
    accumulation) with a checkpoint; the resumed run ends with the weights, moving average and
    optimizer of the uninterrupted one: the schedule's steps and the average are in the checkpoint.
    """
    project, out = projects["allon"], tmp_path / "stopped"
    env = {**os.environ, "PYTHONPATH": str(project), "OMP_NUM_THREADS": "1"}
    command = train_command("allon", digits_root, out, *ALLON_FLAGS)
    process = subprocess.Popen(command, cwd=project, env=env, stderr=subprocess.PIPE, text=True)
    seen = ""
    while "epoch 1" not in seen:  # the progress bar: training has begun
        character = process.stderr.read(1)
        assert character, seen[-2000:]
        seen += character
    process.send_signal(signal.SIGINT)
    rest = process.stderr.read()
    assert process.wait(timeout=300) == 130, (seen + rest)[-3000:]
    stopped = torch.load(out / "last.pt", weights_only=False)
    assert stopped["epoch"] == 0 and stopped["step"] % 2 == 0 and 0 < stopped["step"] < 20
    run(project, [*command, "--resume", str(out / "last.pt")])
    resumed = torch.load(out / "last.pt", weights_only=False)
    reference = torch.load(allon_runs[0] / "last.pt", weights_only=False)
    for key in ("model", "ema"):
        assert all(torch.equal(v, reference[key][k]) for k, v in resumed[key].items()), key
    assert resumed["schedule"] == reference["schedule"]
    timeless = [{k: v for k, v in row.items() if k not in ("seconds", "img_per_s")}
                for row in metrics(out)]  # fmt: skip
    assert timeless == [{k: v for k, v in row.items() if k not in ("seconds", "img_per_s")}
                        for row in metrics(allon_runs[0])]  # fmt: skip


# --- gradient accumulation ------------------------------------------------------------------------


def digit_batch(count: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    order = torch.randperm(len(digits.target), generator=torch.Generator().manual_seed(seed))
    images = torch.tensor(digits.images, dtype=torch.float32)[order[:count], None] / 16 - 0.5
    return images, torch.tensor(digits.target)[order[:count]]


def step_setup(project: Path, package: str):
    train, phases = import_generated(project, "train"), import_generated(project, "phases")
    config = yaml.safe_load((project / "configs" / "default.yaml").read_text())
    run_ = train.Run("cpu")
    args = Namespace(skip_nonfinite=False, grad_clip=None)
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    return train, phases, config, run_, args, scaler


def test_accumulating_k_batches_of_b_is_one_step_of_k_times_b(projects):
    project = projects["accum"]
    train, phases, config, run_, args, scaler = step_setup(project, "accum")
    model_class = import_generated(project, "model").Accum
    settings = config["train"]["optimizer"]
    k, b = config["train"]["grad_accum_steps"], 8
    images, labels = digit_batch(k * b)
    results = []
    for split in (True, False):
        torch.manual_seed(0)
        model = model_class(num_classes=10)
        optimizer = phases.make_optimizer(list(model.parameters()), settings, run_.device)
        criterion = nn.CrossEntropyLoss()
        for _ in range(3):  # three optimizer steps (momentum carries over)
            if split:
                start = {n: p.detach().clone() for n, p in model.named_parameters()}
                for i in range(k):
                    part = slice(i * b, (i + 1) * b)
                    inputs, group = (images[part],), (i, k)
                    train.train_step(model, criterion, optimizer, scaler, inputs, labels[part],
                                     run_, args, group)  # fmt: skip
                    if i < k - 1:  # the weights move only with the step's last batch
                        assert all(torch.equal(start[n], p) for n, p in model.named_parameters())
            else:
                train.train_step(model, criterion, optimizer, scaler, (images,), labels, run_, args)
        results.append(dict(model.named_parameters()))
    for name, param in results[0].items():
        torch.testing.assert_close(param, results[1][name], rtol=1e-5, atol=1e-6)


def test_accumulating_batches_skip_the_ddp_all_reduce(projects, tmp_path):
    """A DDP model (one gloo process) counts its all-reduces with a communication hook: one per
    optimizer step, on the step's last batch; the others run under no_sync."""
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    project = projects["accum"]
    train, phases, config, run_, args, scaler = step_setup(project, "accum")
    settings = config["train"]["optimizer"]
    dist.init_process_group(
        "gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1
    )
    try:
        model = DistributedDataParallel(import_generated(project, "model").Accum(num_classes=10))
        reduced = []

        def hook(state, bucket):
            reduced.append(bucket.index())
            return (
                dist.all_reduce(bucket.buffer(), async_op=True)
                .get_future()
                .then(lambda future: future.value()[0])
            )

        model.register_comm_hook(None, hook)
        optimizer = phases.make_optimizer(list(model.parameters()), settings, run_.device)
        images, labels = digit_batch(32)
        calls = []
        for i in range(4):
            part = slice(i * 8, (i + 1) * 8)
            train.train_step(model, nn.CrossEntropyLoss(), optimizer, scaler, (images[part],),
                             labels[part], run_, args, (i, 4))  # fmt: skip
            calls.append(len(reduced))
        assert calls[:3] == [0, 0, 0] and calls[3] > 0
    finally:
        dist.destroy_process_group()


@pytest.mark.slow  # a minute or more on 2 cores
def test_two_ddp_processes_accumulating_match_one_process_of_twice_the_batch(
    projects, digits_root, tmp_path
):
    """torchrun with 2 CPU processes of batch 8, 4 batches a step, ends with the weights of one
    process of batch 16, 4 batches a step (the sampler gives rank r every other sample)."""
    project, flags = projects["accum"], ("--limit-batches", "16", "--seed", "5")
    two, one = tmp_path / "two", tmp_path / "one"
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                "--nproc_per_node=2", "-m"]  # fmt: skip
    run(project, torchrun + train_command("accum", digits_root, two, *flags)[2:])
    run(project, train_command("accum", digits_root, one, *flags, "--batch-size", "16"))
    a = torch.load(two / "last.pt", weights_only=False)["model"]
    b = torch.load(one / "last.pt", weights_only=False)["model"]
    start = import_generated(project, "model").Accum(num_classes=10).state_dict()
    for name in a:
        assert not torch.equal(a[name], start[name])
        torch.testing.assert_close(a[name], b[name], rtol=1e-4, atol=1e-5)


# --- weight decay groups, per-step schedule --------------------------------------------------


def test_no_weight_decay_groups_hold_exactly_norm_and_bias_parameters(projects):
    project = projects["allon"]
    phases = import_generated(project, "phases")
    model = import_generated(project, "model").Allon(num_classes=10)
    names = {id(p): n for n, p in model.named_parameters()}
    norms = {f"{n}.{p}" for n, m in model.named_modules() if isinstance(m, nn.BatchNorm2d)
             for p in ("weight", "bias")}  # fmt: skip
    assert norms  # the model has batch norm
    exempt = norms | {n for n in names.values() if n.endswith(".bias")}
    groups = phases.weight_decay_groups(model, list(model.parameters()), ["norm", "bias"])
    assert {names[id(p)] for p in groups[1]["params"]} == exempt
    assert {names[id(p)] for p in groups[0]["params"]} == set(names.values()) - exempt
    only_norm = phases.weight_decay_groups(model, list(model.parameters()), ["norm"])
    assert {names[id(p)] for p in only_norm[1]["params"]} == norms
    # a step of weight decay alone (zero gradients) shrinks the decayed weights, not the others
    settings = {"name": "sgd", "lr": 0.5, "momentum": 0.0, "nesterov": False, "weight_decay": 0.1}
    optimizer = phases.make_optimizer(groups, settings, torch.device("cpu"))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    optimizer.step()
    for name, param in model.named_parameters():
        expected = before[name] if name in exempt else before[name] * (1 - 0.5 * 0.1)
        torch.testing.assert_close(param.detach(), expected)


def warmup_cosine(step: int, lr: float, warmup: int, total: int, factor: float) -> float:
    """torchvision's linear warm-up then cosine, per step: the formula the schedule must follow."""
    if step < warmup:
        return lr * (factor + (1 - factor) * step / warmup)
    return lr * (1 + math.cos(math.pi * (step - warmup) / (total - warmup))) / 2


def test_per_step_warmup_and_cosine_follow_the_formula(projects, allon_runs):
    phases = import_generated(projects["allon"], "phases")
    for factor in (0.1, None):  # None: nanoGPT's 1 / (warm-up steps + 1)
        param = nn.Parameter(torch.zeros(1))
        optimizer = torch.optim.SGD([param], lr=0.1)
        settings = {"name": "cosine", "warmup_epochs": 1, "warmup_factor": factor, "min_lr": 0.0}
        schedule = phases.make_schedule(optimizer, settings, 3, 7)  # 3 epochs of 7 steps
        rates = []
        for _ in range(21):
            rates.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            schedule.step()
        start = factor or 1 / 8
        assert rates == pytest.approx([warmup_cosine(t, 0.1, 7, 21, start) for t in range(21)])
    # the real run: 2 epochs of 10 optimizer steps (20 batches, 2 a step), warm-up 10 from 0.1;
    # TensorBoard has the rate after every step (logged every 2 batches)
    scalars = tensorboard_scalars(allon_runs[0])
    logged = {batch: value for batch, value in scalars["step/lr"]}
    assert sorted(logged) == list(range(2, 41, 2))
    for batch, value in logged.items():
        assert value == pytest.approx(warmup_cosine(batch // 2, 0.1, 10, 20, 0.1), abs=1e-7)


# --- top-5, TensorBoard, sync BN, deterministic ---------------------------------------------------


def test_top5_accuracy_is_a_column_at_least_top1(allon_runs):
    rows = metrics(allon_runs[0])
    assert list(rows[0])[-4:] == ["val_top5", "val_ema_loss", "val_ema_acc", "val_ema_top5"]
    for row in rows:
        assert float(row["val_acc"]) <= float(row["val_top5"]) <= 1
        assert float(row["val_ema_acc"]) <= float(row["val_ema_top5"])
    assert float(rows[-1]["val_top5"]) > 0.9  # real digits, learnt


def tensorboard_scalars(out: Path) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(out / "tensorboard"))
    events.Reload()
    return {
        tag: [(event.step, event.value) for event in events.Scalars(tag)]
        for tag in events.Tags()["scalars"]
    }


def test_tensorboard_gets_every_metric_and_the_step_loss(allon_runs):
    scalars = tensorboard_scalars(allon_runs[0])
    rows = metrics(allon_runs[0])
    for column in ("train_loss", "val_acc", "val_top5", "val_ema_acc", "lr"):
        logged = [value for _, value in scalars[f"epoch/{column}"]]
        assert logged == pytest.approx([float(row[column]) for row in rows], rel=1e-5), column
    assert [step for step, _ in scalars["step/train_loss"]] == list(range(2, 41, 2))


def test_sync_bn_converts_batch_norm_under_ddp_on_gpus_only(projects):
    train = import_generated(projects["allon"], "train")
    model_class = import_generated(projects["allon"], "model").Allon

    def kinds(model):
        return {type(m).__name__ for m in model.modules() if "BatchNorm" in type(m).__name__}

    for device, world, expected in (("cuda", 2, "SyncBatchNorm"), ("cpu", 2, "BatchNorm2d"),
                                    ("cuda", 1, "BatchNorm2d")):  # fmt: skip
        run_ = train.Run("cpu")
        run_.cuda, run_.world = device == "cuda", world  # as torchrun would make it
        assert kinds(train.synchronize_batch_norm(model_class(num_classes=10), run_)) == {expected}


def test_the_deterministic_switch(projects, allon_runs):
    train = import_generated(projects["allon"], "train")
    assert train.parse_args(["--no-deterministic"]).deterministic is False
    assert train.parse_args([]).deterministic is None  # the config's: true
    before = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.backends.cudnn.benchmark,
    )
    workspace = os.environ.get("CUBLAS_WORKSPACE_CONFIG")
    try:
        torch.backends.cudnn.benchmark = True
        train.make_deterministic()
        assert torch.are_deterministic_algorithms_enabled()
        assert torch.is_deterministic_algorithms_warn_only_enabled()  # (CUDA's pooling backward)
        assert not torch.backends.cudnn.benchmark
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == workspace or ":4096:8"
    finally:
        torch.use_deterministic_algorithms(before[0], warn_only=before[1])
        torch.backends.cudnn.benchmark = before[2]
        if workspace is None:
            os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
    first, second = (torch.load(out / "last.pt", weights_only=False) for out in allon_runs)
    for key in ("model", "ema"):
        assert first[key].keys() == second[key].keys()
        assert all(torch.equal(first[key][k], second[key][k]) for k in first[key]), key
