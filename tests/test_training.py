"""The generated training under stress: killed at any moment and resumed to bit-identical weights,
stopped by Ctrl-C mid-epoch, a NaN loss, broken data, and DDP over two CPU processes (its own
seed per rank, stopped mid-epoch and resumed to the uninterrupted run's weights and metrics)."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from generated import import_generated, project_for
from torchvision.io import write_jpeg

from scaffold.blueprint import load_blueprint
from scaffold.render import new_project

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """mycnn (batch norm, random crops and flips): small synthetic sets, so a run takes seconds."""
    root = tmp_path_factory.mktemp("training")
    dest = root / "mycnn"
    new_project(load_blueprint(REPO / "blueprints" / "mycnn.yaml"), dest, "mycnn", git=False)
    config = yaml.safe_load((dest / "configs" / "default.yaml").read_text())
    config["data"]["synthetic"] = {"train_size": 256, "val_size": 61}  # 61: uneven over 2 ranks
    (dest / "configs" / "small.yaml").write_text(yaml.safe_dump(config))
    return dest


def command(project: Path, out: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "mycnn.train", "--config", str(project / "configs" / "small.yaml"),
        "--device", "cpu", "--epochs", "3", "--batch-size", "16", "--workers", "2", "--seed", "7",
        "--out", str(out), *extra,
    ]  # fmt: skip


def run(project: Path, args: list[str], **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(project), "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        args, cwd=project, env=env, capture_output=True, text=True, timeout=600, **kwargs
    )


def weights(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=False)["model"]


def assert_identical(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"weights differ: {different[:5]}"


@pytest.fixture(scope="module")
def reference(project, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("reference")
    done = run(project, command(project, out))
    assert done.returncode == 0, done.stderr[-2000:]
    return weights(out / "last.pt")


def start(project: Path, args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(project), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        args,
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def wait_for(path: Path, process: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, process.stdout.read()[-2000:]
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


@pytest.mark.parametrize(
    "delay, flags_again",
    [
        (0.0, True),  # right as a checkpoint lands, every flag given again
        (0.7, False),  # mid-epoch, and only --resume: config, data, seed, --out from the checkpoint
    ],
)
def test_sigkill_then_resume_gives_bit_identical_weights(
    project, reference, tmp_path, delay, flags_again
):
    out = tmp_path / "run"
    process = start(project, command(project, out))
    wait_for(out / "last.pt", process)
    time.sleep(delay)
    os.killpg(process.pid, signal.SIGKILL)  # the trainer and its loader workers, no warning
    process.wait()
    torch.load(out / "last.pt", weights_only=False)  # a complete checkpoint survived
    if flags_again:
        again = command(project, out, "--resume", str(out / "last.pt"))
    else:
        again = [sys.executable, "-m", "mycnn.train", "--resume", str(out / "last.pt")]
    resumed = run(project, again)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert_identical(weights(out / "last.pt"), reference)
    rows = (out / "metrics.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in rows[1:]] == ["1", "2", "3"]


def test_ctrl_c_saves_a_checkpoint_mid_epoch_that_resumes_exactly(project, reference, tmp_path):
    out = tmp_path / "run"
    process = start(project, command(project, out, "--log-every", "1"))
    wait_for(out / "last.pt", process)  # into the second epoch
    time.sleep(0.5)
    os.killpg(process.pid, signal.SIGINT)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 130, output[-2000:]
    assert "--resume" in output
    saved = torch.load(out / "last.pt", weights_only=False)
    assert saved["step"] > 0, "the Ctrl-C checkpoint should sit inside an epoch"
    resumed = run(project, command(project, out, "--resume", str(out / "last.pt")))
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert_identical(weights(out / "last.pt"), reference)


def train_in_process(project: Path, out: Path, *extra: str) -> None:
    """`python -m mycnn.train` with command()'s flags, in this process (no torch import to wait
    for), its loader in this process too: workers forked from a test process can hang."""
    train = import_generated(project, "train")
    train.main([*command(project, out, *extra)[3:], "--workers", "0"])


def test_nonfinite_loss_stops_with_the_epoch_and_step_and_keeps_the_last_checkpoint(
    project, tmp_path, capsys
):
    """In process: a SystemExit with a message is what `python -m` prints without a traceback, with
    exit status 1: a failure while training, not a refusal (those exit with 2)."""
    out = tmp_path / "run"
    train_in_process(project, out, "--epochs", "1")
    before = (out / "last.pt").read_bytes()
    # the run resumed for another epoch, which explodes before its next checkpoint
    with pytest.raises(SystemExit) as exploded:
        resume = ("--resume", str(out / "last.pt"))
        train_in_process(project, out, "--epochs", "2", "--lr", "1e30", *resume)
    assert isinstance(exploded.value.code, str) and "epoch 2, step" in exploded.value.code
    assert type(exploded.value) is SystemExit  # not the package's Refused
    assert (out / "last.pt").read_bytes() == before
    capsys.readouterr()
    train_in_process(
        project, tmp_path / "skip", "--epochs", "1", "--lr", "1e30", "--skip-nonfinite"
    )
    assert "skipped step" in capsys.readouterr().out


def test_data_problems_are_named(project, tmp_path):
    """In process: a refusal (a SystemExit) with a message, which `python -m` prints as one line
    without a traceback, exit status 2."""
    train = import_generated(project, "train")

    def fails(root: Path, *extra: str) -> str:
        args = command(project, tmp_path / "out", "--data-root", str(root), "--epochs", "1", *extra)
        with pytest.raises(SystemExit) as stopped:
            train.main(args[3:])  # the flags, without `python -m mycnn.train`
        assert isinstance(stopped.value.code, str), stopped.value.code
        return stopped.value.code

    assert "no such folder" in fails(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    assert "is empty" in fails(tmp_path / "empty")
    tree = tmp_path / "tree"
    for split, classes in (("train", ["cat", "dog"]), ("val", ["cat", "dog"])):
        for name in classes:
            (tree / split / name).mkdir(parents=True)
            for i in range(20):
                picture = torch.randint(0, 256, (3, 36, 36), dtype=torch.uint8)
                write_jpeg(picture, str(tree / split / name / f"{i}.jpg"))
    (tree / "val" / "bird").mkdir()
    message = fails(tree)
    assert "bird" in message and "no valid file" in message  # torchvision's ImageFolder scan
    (tree / "val" / "bird").rmdir()
    (tree / "val" / "cow").mkdir()
    write_jpeg(torch.zeros(3, 8, 8, dtype=torch.uint8), str(tree / "val" / "cow" / "0.jpg"))
    assert "differ" in fails(tree) and "cow" in fails(tree)
    (tree / "val" / "cow" / "0.jpg").unlink()
    (tree / "val" / "cow").rmdir()
    broken = tree / "val" / "dog" / "broken.jpg"  # every image is read
    broken.write_bytes(b"\xff\xd8 this is not a JPEG")
    assert str(broken) in fails(tree, "--workers", "2")


def test_undecodable_images_are_skipped_and_counted_where_asked(tmp_path, generated_root, capsys):
    """Image files read per sample (resnet18's image folders): --skip-bad-images skips and counts
    them, in training and in evaluation; without it, the file is named."""
    dest, _ = project_for("resnet18", generated_root)
    tree = tmp_path / "tree"
    for split in ("train", "val"):
        for name in ("cat", "dog"):
            (tree / split / name).mkdir(parents=True)
            for i in range(4):
                picture = torch.randint(0, 256, (3, 36, 36), dtype=torch.uint8)
                write_jpeg(picture, str(tree / split / name / f"{i}.jpg"))
    broken = tree / "val" / "dog" / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 this is not a JPEG")
    train, evaluate = import_generated(dest, "train"), import_generated(dest, "evaluate")
    out = tmp_path / "out"
    flags = ["--data-root", str(tree), "--device", "cpu", "--epochs", "1", "--batch-size", "4",
             "--image-size", "32", "--workers", "0", "--no-pretrained", "--out", str(out)]  # fmt: skip
    with pytest.raises(train.data.DataError, match=str(broken)):
        train.main(flags)
    train.main([*flags, "--skip-bad-images"])
    assert "skipped undecodable images: 0 train, 1 val" in capsys.readouterr().out
    with pytest.raises(train.data.DataError, match=str(broken)):
        evaluate.main(["--checkpoint", str(out / "last.pt"), "--workers", "0"])
    evaluate.main(["--checkpoint", str(out / "last.pt"), "--workers", "0", "--skip-bad-images"])
    report = capsys.readouterr().out
    assert "accuracy: " in report and "skipped 1 undecodable images" in report


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--batch-size", "0"], "--batch-size: must be at least 1, got 0"),
        (["--epochs", "0"], "--epochs: must be at least 1, got 0"),
        (["--lr", "-1"], "--lr: must be a positive number, got -1"),
        (["--workers", "-1"], "--workers: must be 0 or more, got -1"),
        (["--val-split", "1.5"], "--val-split: must be between 0 and 1, got 1.5"),
    ],
)
def test_bad_flags_are_named(project, capsys, flags, message):
    train = import_generated(project, "train")
    with pytest.raises(SystemExit) as stopped:
        train.parse_args(flags)
    assert stopped.value.code == 2
    assert message in capsys.readouterr().err


def test_a_config_lacking_a_setting_is_named(project, tmp_path):
    config = yaml.safe_load((project / "configs" / "small.yaml").read_text())
    del config["train"]["optimizer"]["lr"]
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(config))
    args = command(project, tmp_path / "out", "--config", str(tmp_path / "bad.yaml"))
    done = run(project, args)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    [line] = done.stderr.splitlines()  # as a bad flag: one line, exit status 2
    assert "bad.yaml: the setting train.optimizer.lr is missing" in line


def test_a_checkpoint_whose_config_lacks_a_setting_is_named(project, tmp_path):
    """A checkpoint written before an update (here: its config still in phases, as one-phase
    projects once had it) resumes into a message naming the setting, not a KeyError."""
    out = tmp_path / "run"
    train_in_process(project, out, "--epochs", "1", "--limit-batches", "2")
    saved = torch.load(out / "last.pt", weights_only=False)
    train = saved["config"]["train"]
    phase = {key: train.pop(key) for key in ("epochs", "batch_size", "optimizer", "schedule")}
    train["phases"] = [{"name": "train", **phase, "trainable": "all", "frozen": []}]
    torch.save(saved, out / "old.pt")
    with pytest.raises(SystemExit, match="old.pt: the setting train.epochs is missing"):
        import_generated(project, "train").main(["--resume", str(out / "old.pt")])


def test_a_checkpoint_of_another_blueprint_is_named(project, tmp_path):
    other = tmp_path / "lenet"
    new_project(load_blueprint(REPO / "blueprints" / "lenet.yaml"), other, "lenet", git=False)
    out = tmp_path / "run"
    lenet = import_generated(other, "train")
    lenet.main(["--dataset", "synthetic", "--epochs", "1", "--limit-batches", "1", "--batch-size", "4",
                "--device", "cpu", "--out", str(out)])  # fmt: skip
    done = run(project, command(project, tmp_path / "mine", "--resume", str(out / "last.pt")))
    assert done.returncode != 0 and "does not fit" in done.stderr
    assert "conv1.weight" in done.stderr and "Traceback" not in done.stderr


# --- DDP over two CPU processes (gloo) -----------------------------------------------------------

DDPNET = """
name: ddpnet
input: {channels: 3, height: 16, width: 16}
model:
  layers: [conv: {out: 8, kernel: 3, padding: 1}, relu, maxpool: 2, flatten, dropout: 0.5, linear: classes]
data: {dataset: synthetic, synthetic: {train_size: 4096, val_size: 61}}
train: {seed: 3, epochs: 2, batch_size: 8, optimizer: {name: sgd, lr: 0.05}, schedule: cosine}
"""  # dropout: every rank draws masks; 61 validation samples: uneven over two ranks


@pytest.fixture(scope="module")
def ddpnet(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ddp")
    (root / "ddpnet.yaml").write_text(DDPNET)
    new_project(load_blueprint(root / "ddpnet.yaml"), root / "ddpnet", "ddpnet", git=False)
    return root / "ddpnet"


def torchrun(project: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
            "-m", "ddpnet.train", "--device", "cpu", "--out", str(out), *extra]  # fmt: skip


@pytest.fixture(scope="module")
def ddp_reference(ddpnet, tmp_path_factory) -> Path:
    """Two epochs on two processes, uninterrupted."""
    out = tmp_path_factory.mktemp("ddp-reference")
    done = run(ddpnet, torchrun(ddpnet, out))
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("epoch 2: train loss") == 1, done.stdout  # rank 0 alone logs
    assert "(61 samples)" in done.stdout  # 31 + 30: every validation sample once, no padding
    return out


def test_torchrun_two_cpu_processes(ddp_reference):
    saved = torch.load(ddp_reference / "last.pt", weights_only=False)
    assert saved["epoch"] == 2
    assert not list(ddp_reference.glob(".*tmp*")), "a checkpoint write was left behind"
    rows = (ddp_reference / "metrics.csv").read_text().splitlines()
    # the learning rate each epoch trained with: cosine over 2 epochs from 0.05
    assert [float(row.split(",")[5]) for row in rows[1:]] == [0.05, 0.025]


def test_every_ddp_rank_has_its_own_seed_and_random_state(ddp_reference):
    """nanoGPT's seed_offset: ranks that shared a seed would draw the same dropout masks."""
    states = torch.load(ddp_reference / "last.pt", weights_only=False)["rng"]
    assert len(states) == 2
    assert not torch.equal(states[0]["torch"], states[1]["torch"])


@pytest.mark.slow  # a minute or more on 2 cores
def test_ddp_stopped_mid_epoch_resumes_to_the_uninterrupted_run(ddpnet, ddp_reference, tmp_path):
    """SIGTERM to torchrun (a cluster's pre-emption) in the second epoch: every rank stops at the
    same step, the checkpoint holds the epoch's totals over both ranks and each rank's random
    state, and the resumed run ends with the uninterrupted run's weights and metrics."""
    out = tmp_path / "run"
    process = start(ddpnet, torchrun(ddpnet, out, "--log-every", "1"))
    wait_for(out / "last.pt", process)  # the end of epoch 1
    time.sleep(0.2)
    process.send_signal(signal.SIGTERM)  # torchrun passes it on to every rank
    output, _ = process.communicate(timeout=120)
    saved = torch.load(out / "last.pt", weights_only=False)
    assert saved["epoch"] == 1 and saved["step"] > 0, output[-3000:]
    resumed = run(ddpnet, torchrun(ddpnet, out, "--resume", str(out / "last.pt")))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert_identical(weights(out / "last.pt"), weights(ddp_reference / "last.pt"))
    for got, want in zip(csv_rows(out / "metrics.csv"), csv_rows(ddp_reference / "metrics.csv")):
        for key in ("train_loss", "train_acc", "val_loss", "val_acc"):
            assert float(got[key]) == pytest.approx(float(want[key]), rel=1e-9), key


def csv_rows(path: Path) -> list[dict]:
    with open(path) as f:
        return list(csv.DictReader(f))


def test_decode_defaults_to_the_device_of_the_run(generated_root, monkeypatch):
    """On a machine with a GPU, --device cpu must not pick GPU decoding."""
    dest, _ = project_for("bcnn_vgg16", generated_root)
    train = import_generated(dest, "train")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    args = train.parse_args(["--device", "cpu", "--dataset", "synthetic"])
    train.start_run(args)
    assert args.decode == "cpu"


def test_checkpoints_keep_numpy_random_state_too(project):
    np = pytest.importorskip("numpy")
    checkpoint = import_generated(project, "checkpoint")
    np.random.seed(5)
    state = checkpoint.rng_state()
    first = np.random.rand(3)
    checkpoint.set_rng_state([state], rank=0, seed=0)
    assert (np.random.rand(3) == first).all()


def test_predict_prints_the_top_classes(project, tmp_path, capsys):
    out = tmp_path / "run"
    train_in_process(project, out, "--epochs", "1", "--limit-batches", "2")
    picture = tmp_path / "photo.jpg"
    write_jpeg(torch.randint(0, 256, (3, 50, 70), dtype=torch.uint8), str(picture))
    predict = import_generated(project, "predict")
    capsys.readouterr()
    predict.main(["--checkpoint", str(out / "last.pt"), "--image", str(picture), "--top", "3"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and all("%" in line for line in lines)
    with pytest.raises(SystemExit) as stopped:  # as a bad flag: exit status 2, the file named
        predict.main(["--checkpoint", str(out / "last.pt"), "--image", str(tmp_path / "none.jpg")])
    assert stopped.value.code == 2 and "none.jpg: no such file" in capsys.readouterr().err
