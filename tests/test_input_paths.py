"""The input paths of the generated training: JPEG decoding in the loader workers or on the device
(run here on the CPU device: CI has no GPU), the whole data set on the device, the benchmark, and
evaluation reports."""

from __future__ import annotations

import argparse
import inspect
import os
import subprocess
import sys

import pytest
import torch
from generated import import_generated, project_for
from test_bcnn import make_cub
from torchvision.io import write_jpeg


@pytest.fixture(scope="module")
def bcnn(tmp_path_factory):
    dest, _ = project_for("bcnn_vgg16", str(tmp_path_factory.mktemp("paths")))
    return dest, import_generated(dest, "data")


def smooth_jpegs(folder, count: int = 6) -> list[str]:
    """Photograph-like JPEGs (smooth gradients): decoders agree on them within a few levels."""
    folder.mkdir(parents=True, exist_ok=True)
    yy, xx = torch.meshgrid(torch.arange(75.0), torch.arange(100.0), indexing="ij")
    paths = []
    for i in range(count):
        picture = torch.stack(
            [torch.sin(xx / (9 + i)), torch.cos(yy / (7 + i)), torch.sin((xx + yy) / 13)]
        )
        path = folder / f"{i}.jpg"
        write_jpeg(((picture + 1) * 127).to(torch.uint8), str(path), quality=92)
        paths.append(str(path))
    return paths


def test_device_decoding_gives_the_same_evaluation_images(bcnn, tmp_path):
    """--decode gpu and --decode cpu: the same transforms on the same files, so the same images
    (within JPEG-decoder tolerance); here the "GPU" path runs on the CPU device."""
    _, data = bcnn
    paths = smooth_jpegs(tmp_path / "jpegs")
    _, eval_tf = data.build_transforms((64, 64))
    cpu = data.ImageFiles([(p, 0) for p in paths], eval_tf, decode="cpu")
    gpu = data.ImageFiles([(p, 0) for p in paths], eval_tf, decode="gpu")
    on_cpu = torch.stack([cpu[(i, 7)]["image"] for i in range(len(paths))])
    batch = data.collate([gpu[(i, 7)] for i in range(len(paths))])
    on_device = data.decode_on_device(batch, eval_tf, torch.device("cpu"))
    assert on_device.shape == on_cpu.shape == (len(paths), 3, 64, 64)
    difference = (on_device.int() - on_cpu.int()).abs()
    assert difference.float().mean() < 1.0 and difference.max() <= 8


def test_device_decoding_applies_the_same_random_augmentation(bcnn, tmp_path):
    """Training transforms draw from the per-sample seed on both paths: same crops and flips."""
    _, data = bcnn
    paths = smooth_jpegs(tmp_path / "jpegs", count=4)
    train_tf, _ = data.build_transforms((48, 48))
    cpu = data.ImageFiles([(p, 0) for p in paths], train_tf, decode="cpu")
    gpu = data.ImageFiles([(p, 0) for p in paths], train_tf, decode="gpu")
    for seed in (1, 2, 3):
        on_cpu = torch.stack([cpu[(i, seed + i)]["image"] for i in range(len(paths))])
        batch = data.collate([gpu[(i, seed + i)] for i in range(len(paths))])
        on_device = data.decode_on_device(batch, train_tf, torch.device("cpu"))
        assert (on_device.int() - on_cpu.int()).abs().float().mean() < 1.0


def test_device_decoding_names_or_skips_an_undecodable_file(bcnn, tmp_path):
    _, data = bcnn
    paths = smooth_jpegs(tmp_path / "jpegs", count=3)
    with open(paths[1], "r+b") as f:  # keep the JPEG signature, break the rest
        f.seek(2)
        f.write(b"\x00" * 200)
    _, eval_tf = data.build_transforms((32, 32))
    gpu = data.ImageFiles([(p, i) for i, p in enumerate(paths)], eval_tf, decode="gpu")
    batch = data.collate([gpu[(i, 0)] for i in range(3)])
    with pytest.raises(data.DataError, match="1.jpg"):
        data.decode_on_device(dict(batch), eval_tf, torch.device("cpu"))
    images = data.decode_on_device(batch, eval_tf, torch.device("cpu"), skip_bad=True)
    assert images.shape[0] == 2 and batch["label"].tolist() == [0, 2] and batch["skipped"] == 1


def test_device_decoding_copies_no_file_bytes_to_the_device(bcnn, tmp_path, monkeypatch):
    """nvJPEG reads the bytes from host memory itself: only images that arrive decoded (not JPEG)
    are copied to the device."""
    _, data = bcnn
    paths = smooth_jpegs(tmp_path / "jpegs", count=3)
    _, eval_tf = data.build_transforms((32, 32))
    gpu = data.ImageFiles([(p, 0) for p in paths], eval_tf, decode="gpu")
    batch = data.collate([gpu[(i, 0)] for i in range(3)])
    batch["data"][1] = torch.zeros(3, 40, 40, dtype=torch.uint8)  # e.g. a PNG, decoded already
    copied, to = [], torch.Tensor.to

    def watched(self, *args, **kwargs):
        copied.append(tuple(self.shape))
        return to(self, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "to", watched)
    images = data.decode_on_device(batch, eval_tf, torch.device("cpu"))
    monkeypatch.undo()
    assert images.shape == (3, 3, 32, 32)
    assert (3, 40, 40) in copied and not [shape for shape in copied if len(shape) == 1]


def test_decoding_ahead_gives_the_same_batches_one_batch_early(bcnn, tmp_path):
    """Decoded decodes batch k + 1 before it hands out batch k (on a GPU, on a stream of its own,
    while step k runs); the batches are those of decoding in turn. Here on the CPU device."""
    dest, data = bcnn
    train = import_generated(dest, "train")
    paths = smooth_jpegs(tmp_path / "jpegs", count=6)
    _, eval_tf = data.build_transforms((32, 32))
    gpu = data.ImageFiles([(p, i) for i, p in enumerate(paths)], eval_tf, decode="gpu")
    pulled = []

    def loader():
        for start in range(0, 6, 2):
            pulled.append(start)
            yield data.collate([gpu[(i, 0)] for i in range(start, start + 2)])

    run = train.Run("cpu")
    in_turn = list(train.Decoded(loader(), eval_tf, run, False, ahead=False))
    pulled.clear()
    seen = []
    for batch in train.Decoded(loader(), eval_tf, run, False):
        seen.append(list(pulled))
        assert torch.equal(batch["image"], in_turn[len(seen) - 1]["image"])
        assert batch["label"].tolist() == in_turn[len(seen) - 1]["label"].tolist()
    assert seen == [[0, 2], [0, 2, 4], [0, 2, 4]]  # the next batch is pulled (decoded) first


def test_whole_data_set_on_the_device(generated_root, tmp_path):
    """--data-on-device: the data set held as one tensor on the device (here the CPU), cropped and
    flipped there in batches, the same batches again for the same epoch and step."""
    dest, _ = project_for("resnet_cifar", generated_root)
    data = import_generated(dest, "data")
    config = {
        "synthetic": {"train_size": 40, "val_size": 8},
        "image_size": [32, 32],
        "val_split": 0.1,
    }
    device_data = data.DeviceData(
        data.load_datasets(None, config).train, torch.device("cpu"), seed=0
    )
    sampler = data.SeededSampler(40, 0, shuffle=True)
    sampler.set_epoch(3)
    batches = list(device_data.batches(sampler, 16))
    assert len(batches) == 2 and batches[0]["image"].shape == (16, 3, 32, 32)
    assert batches[0]["image"].dtype == torch.uint8
    assert torch.equal(batches[1]["image"], list(device_data.batches(sampler, 16))[1]["image"])
    sampler.set_epoch(3, start=16)  # a resume after the first step
    assert torch.equal(next(device_data.batches(sampler, 16))["image"], batches[1]["image"])
    out = tmp_path / "run"
    import_generated(dest, "train").main(
        ["--device", "cpu", "--dataset", "synthetic", "--epochs", "1", "--limit-batches", "2",
         "--batch-size", "8", "--data-on-device", "--out", str(out)]
    )  # fmt: skip
    assert (out / "last.pt").is_file()


def test_cuda_graph_needs_a_gpu(generated_root, tmp_path):
    dest, _ = project_for("resnet_cifar", generated_root)
    flags = ["--device", "cpu", "--dataset", "synthetic", "--cuda-graph", "--out", str(tmp_path)]
    with pytest.raises(SystemExit, match="CUDA"):
        import_generated(dest, "train").main(flags)


def test_cuda_graph_refuses_what_a_graph_cannot_do(generated_root, capsys):
    """The captured step has no GradScaler and cannot skip a step: fp16 and --skip-nonfinite are
    refused with the reason, before anything starts."""
    dest, _ = project_for("resnet_cifar", generated_root)
    train = import_generated(dest, "train")
    for flag in (["--precision", "fp16"], ["--skip-nonfinite"]):
        with pytest.raises(SystemExit) as stopped:
            train.parse_args(["--cuda-graph", *flag])
        assert stopped.value.code == 2
    errors = capsys.readouterr().err
    assert "bf16 or fp32" in errors and "GradScaler" in errors and "--skip-nonfinite" in errors


def test_the_step_a_cuda_graph_captures_clips_gradients(generated_root):
    """GraphedStep captures train_step itself: clipping is in it (checked here on the CPU)."""
    dest, _ = project_for("resnet_cifar", generated_root)
    train = import_generated(dest, "train")
    assert "train_step(*step)" in inspect.getsource(train.GraphedStep)
    model = torch.nn.Linear(4, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    run = train.Run("cpu")
    args = argparse.Namespace(grad_clip=0.5, skip_nonfinite=False)
    inputs, labels = (torch.randn(8, 4) * 100,), torch.randint(0, 2, (8,))
    train.train_step(
        model, torch.nn.CrossEntropyLoss(), optimizer, scaler, inputs, labels, run, args
    )
    norm = torch.cat([p.grad.flatten() for p in model.parameters()]).norm()
    assert norm == pytest.approx(0.5, rel=1e-4)


@pytest.mark.parametrize("name", ["lenet", "san_vgg_cnn"])
def test_bench_runs_on_a_cpu(name, tmp_path):
    dest, project = project_for(name, str(tmp_path))
    args = [
        "--device",
        "cpu",
        "--batch-size",
        "4",
        "--steps",
        "2",
        "--warmup",
        "1",
        "--json",
        str(tmp_path / "b.json"),
    ]
    if project.plan.size_agnostic:
        args += ["--image-size", "32"]
    env = {**os.environ, "PYTHONPATH": str(dest)}
    done = subprocess.run(
        [sys.executable, "-m", f"{name}.bench", *args],
        cwd=dest,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "compute only" in done.stdout and "img/s" in done.stdout and "MFU" in done.stdout
    assert "GFLOP per image" in done.stdout


def test_bench_end_to_end_from_jpeg_files(bcnn, tmp_path):
    dest, _ = bcnn
    cub = make_cub(tmp_path, per_class=6)
    env = {**os.environ, "PYTHONPATH": str(dest)}
    args = ["--device", "cpu", "--batch-size", "2", "--steps", "2", "--warmup", "1", "--image-size", "32",
            "--data-root", str(cub), "--workers", "0"]  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "bcnn_vgg16.bench", *args],
        cwd=dest,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "end to end, decode cpu" in done.stdout
    assert "skipping --decode gpu" in done.stdout  # no CUDA device here


def test_bench_gives_every_decode_mode_a_loader_of_its_own(bcnn, tmp_path):
    """--decode cpu,gpu in one process: persistent workers keep the data set they started with, so
    a loader shared by both modes measured the CPU decoding twice. Here "gpu" decodes on the CPU
    device (in the test process: worker processes forked from it can hang)."""
    dest, _ = bcnn
    bench, train = import_generated(dest, "bench"), import_generated(dest, "train")
    config = train.read_config(train.DEFAULT_CONFIG)
    config["data"]["image_size"] = [32, 32]
    cub, run = str(make_cub(tmp_path)), train.Run("cpu")
    on_cpu = next(bench.loaded(cub, config, 2, 0, run, "cpu"))
    on_gpu = next(bench.loaded(cub, config, 2, 0, run, "gpu"))
    assert "data" not in on_cpu and "data" in on_gpu  # JPEG bytes, decoded after the loader
    assert on_cpu["image"].shape == on_gpu["image"].shape == (2, 3, 32, 32)


def test_evaluation_reports_classes_and_writes_the_confusion_matrix(bcnn, tmp_path, capsys):
    dest, _ = bcnn
    cub = make_cub(tmp_path, per_class=4)
    out = tmp_path / "run"
    import_generated(dest, "train").main(
        ["--data-root", str(cub), "--epochs", "1", "--batch-size", "2", "--image-size", "32", "--workers", "0",
         "--device", "cpu", "--no-pretrained", "--out", str(out)]
    )  # fmt: skip
    capsys.readouterr()
    import_generated(dest, "evaluate").main(
        ["--checkpoint", str(out / "best.pt"), "--device", "cpu", "--workers", "0"]
    )
    report = capsys.readouterr().out
    assert "Laysan Albatross" in report and "accuracy" in report
    assert (out / "confusion_matrix.png").stat().st_size > 1000
    assert (out / "per_class.csv").read_text().count("\n") == 4
