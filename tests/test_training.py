"""The generated training under stress: killed at any moment and resumed to bit-identical weights,
stopped by Ctrl-C mid-epoch, a NaN loss, broken data, and DDP over two CPU processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from generated import import_generated
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


def test_nonfinite_loss_stops_with_the_epoch_and_step_and_keeps_the_last_checkpoint(
    project, tmp_path
):
    out = tmp_path / "run"
    first = run(project, command(project, out, "--epochs", "1"))
    assert first.returncode == 0, first.stderr[-2000:]
    before = (out / "last.pt").read_bytes()
    # a new run into the same folder that explodes before its first checkpoint
    exploded = run(project, command(project, out, "--epochs", "1", "--lr", "1e30"))
    assert exploded.returncode != 0
    assert "epoch 1, step" in exploded.stderr and "Traceback" not in exploded.stderr
    assert (out / "last.pt").read_bytes() == before
    skipped = run(
        project,
        command(project, tmp_path / "skip", "--epochs", "1", "--lr", "1e30", "--skip-nonfinite"),
    )
    assert "skipped step" in skipped.stdout


def test_data_problems_are_named(project, tmp_path):
    def fails(root: Path, *extra: str) -> str:
        done = run(
            project,
            command(project, tmp_path / "out", "--data-root", str(root), "--epochs", "1", *extra),
        )
        assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr[-2000:]
        return done.stderr

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
    assert "bird" in message and "no images" in message
    (tree / "val" / "bird").rmdir()
    (tree / "val" / "cow").mkdir()
    write_jpeg(torch.zeros(3, 8, 8, dtype=torch.uint8), str(tree / "val" / "cow" / "0.jpg"))
    assert "differ" in fails(tree) and "cow" in fails(tree)
    (tree / "val" / "cow" / "0.jpg").unlink()
    (tree / "val" / "cow").rmdir()
    broken = tree / "val" / "dog" / "broken.jpg"  # every validation image is read
    broken.write_bytes(b"\xff\xd8 this is not a JPEG")
    assert str(broken) in fails(tree, "--workers", "2")
    done = run(
        project,
        command(
            project,
            tmp_path / "out2",
            "--data-root",
            str(tree),
            "--epochs",
            "1",
            "--skip-bad-images",
        ),
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "skipped undecodable images: 0 train, 1 val" in done.stdout
    evaluate = [
        sys.executable,
        "-m",
        "mycnn.evaluate",
        "--checkpoint",
        str(tmp_path / "out2" / "last.pt"),
    ]
    failed = run(project, evaluate)
    assert failed.returncode != 0 and "Traceback" not in failed.stderr, failed.stderr[-2000:]
    assert str(broken) in failed.stderr
    skipped = run(project, [*evaluate, "--skip-bad-images"])
    assert skipped.returncode == 0, skipped.stderr[-2000:]
    assert "accuracy: " in skipped.stdout and "skipped 1 undecodable images" in skipped.stdout


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
    del config["train"]["phases"][0]["optimizer"]["lr"]
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(config))
    args = command(project, tmp_path / "out", "--config", str(tmp_path / "bad.yaml"))
    done = run(project, args)
    assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert "bad.yaml: the setting train.phases[0].optimizer.lr is missing" in done.stderr


def test_a_checkpoint_of_another_blueprint_is_named(project, tmp_path):
    other = tmp_path / "lenet"
    new_project(load_blueprint(REPO / "blueprints" / "lenet.yaml"), other, "lenet", git=False)
    out = tmp_path / "run"
    lenet = import_generated(other, "train")
    lenet.main(["--dataset", "synthetic", "--epochs", "1", "--limit-batches", "1", "--batch-size", "4",
                "--workers", "0", "--device", "cpu", "--out", str(out)])  # fmt: skip
    done = run(project, command(project, tmp_path / "mine", "--resume", str(out / "last.pt")))
    assert done.returncode != 0 and "does not fit" in done.stderr
    assert "conv1.weight" in done.stderr and "Traceback" not in done.stderr


def test_torchrun_two_cpu_processes(project, tmp_path):
    """DDP with gloo: it trains, rank 0 alone logs and checkpoints, and evaluation counts each of
    the 61 validation samples once (31 + 30, no padding)."""
    out = tmp_path / "ddp"
    args = command(project, out, "--epochs", "2", "--workers", "0")[3:]  # after "-m mycnn.train"
    done = run(
        project,
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         "-m", "mycnn.train", *args],
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("epoch 2: train loss") == 1, done.stdout  # rank 0 only
    assert "(61 samples)" in done.stdout
    saved = torch.load(out / "last.pt", weights_only=False)
    assert saved["epoch"] == 2
    assert not list(out.glob(".*tmp*")), "a checkpoint write was left behind"
    rows = (out / "metrics.csv").read_text().splitlines()
    assert len(rows) == 3
    # the learning rate each epoch trained with: cosine over 2 epochs from 0.01
    assert [float(row.split(",")[5]) for row in rows[1:]] == [0.01, 0.005]


def test_decode_defaults_to_the_device_of_the_run(project, monkeypatch):
    """On a machine with a GPU, --device cpu must not pick GPU decoding."""
    train = import_generated(project, "train")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    args = train.parse_args(
        ["--config", str(project / "configs" / "small.yaml"), "--device", "cpu"]
    )
    config = train.load_config(args)
    run = train.start_run(args, config)
    train.load_data(args, config, run)
    assert args.decode == "cpu"


def test_checkpoints_keep_numpy_random_state_too(project):
    np = pytest.importorskip("numpy")
    checkpoint = import_generated(project, "checkpoint")
    np.random.seed(5)
    state = checkpoint.rng_state()
    first = np.random.rand(3)
    checkpoint.set_rng_state(state)
    assert (np.random.rand(3) == first).all()


def test_predict_prints_the_top_classes(project, tmp_path):
    out = tmp_path / "run"
    trained = run(project, command(project, out, "--epochs", "1", "--limit-batches", "2"))
    assert trained.returncode == 0, trained.stderr[-2000:]
    picture = tmp_path / "photo.jpg"
    write_jpeg(torch.randint(0, 256, (3, 50, 70), dtype=torch.uint8), str(picture))
    predict = [sys.executable, "-m", "mycnn.predict", "--checkpoint", str(out / "last.pt")]
    done = run(project, [*predict, "--image", str(picture), "--top", "3"])
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 3 and all("%" in line for line in lines)
    missing = run(project, [*predict, "--image", str(tmp_path / "none.jpg")])
    assert missing.returncode != 0 and "no such file" in missing.stderr
