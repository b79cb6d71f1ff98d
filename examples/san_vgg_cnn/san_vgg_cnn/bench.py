"""Measure the training speed of SAN: compute only, and end to end from the data.

    python -m san_vgg_cnn.bench [--batch-size 32] [--data-root DIR --decode cpu,gpu] [--json FILE]

Compute only: a batch already on the device, and train.py's training step with its speed switches.
End to end (--data-root): the real loader, decoding in the workers or on the GPU, and the same step.
Prints step time, images/s, TFLOP/s (model FLOPs counted by torch.utils.flop_counter), MFU against a
matmul peak measured on this device, and peak GPU memory; on a CPU too, with small, honest numbers.
"""

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from . import data
from .model import SAN
from .phases import make_optimizer
from .train import decoded, load_config, model_inputs, start_run, synchronize, train_step


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m san_vgg_cnn.bench", description=__doc__.split("\n\n")[0]
    )
    add = parser.add_argument
    add("--config", type=Path, help="training settings (default: configs/default.yaml)")
    add("--batch-size", type=int, default=32)
    add("--image-size", type=int, help="measure at this size instead of the blueprint's")
    add("--steps", type=int, default=20, help="timed steps (the median is reported)")
    add("--warmup", type=int, help="untimed steps first (default: 10 with compile, 3 without)")
    add("--data-root", help="also measure end to end from this data folder")
    add("--decode", default="cpu,gpu", help="where to decode JPEG files, end to end")
    add("--workers", type=int, help="loader processes, end to end (default: the config's)")
    add("--device", choices=["auto", "cpu", "cuda"], default="auto")
    add("--precision", choices=["auto", "bf16", "fp16", "fp32"], default="auto")
    add("--compile", action=argparse.BooleanOptionalAction)
    add("--channels-last", action=argparse.BooleanOptionalAction)
    add("--json", type=Path, help="also write the results to this file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    args.seed = args.val_split = args.epochs = args.lr = None  # load_config's other flags
    config = load_config(args)
    args.grad_clip, args.skip_nonfinite = config["train"]["grad_clip"], False
    run = start_run(args)
    torch.manual_seed(0)
    if args.image_size:
        height, width = config["data"]["image_size"]
        config["data"]["image_size"] = [args.image_size, round(args.image_size * width / height)]
    n, size = args.batch_size, config["data"]["image_size"]
    model = SAN().to(device=run.device, memory_format=run.memory_format)
    criterion = nn.CrossEntropyLoss()
    scaler = torch.amp.GradScaler(run.device.type, enabled=run.precision == "fp16")
    optimizer = make_optimizer(
        list(model.parameters()), config["train"]["phases"][-1]["optimizer"], run.device
    )
    batch = {
        "image": torch.randint(
            0, 256, (n, data.CHANNELS, *size), dtype=torch.uint8, device=run.device
        ),
        "label": torch.randint(0, 1000, (n,), device=run.device),
        "question": torch.randint(2, 10000, (n, 14), device=run.device),  # 14 words
    }
    with FlopCounterMode(display=False) as counter:  # forward and backward, without compile
        criterion(model(*model_inputs(batch, run)[0]).float(), batch["label"]).backward()
    step, step_model = train_step, torch.compile(model) if run.compile else model

    def train(batch: dict) -> None:
        step(step_model, criterion, optimizer, scaler, *model_inputs(batch, run), run, args)

    results = {
        "model": "SAN (san_vgg_cnn)",
        "device": (
            torch.cuda.get_device_name(run.device)
            if run.cuda
            else f"CPU ({torch.get_num_threads()} threads)"
        ),
        "settings": f"batch {n}, {size[0]}x{size[1]} px, {run.precision}, compile {run.compile}, "
        f"channels_last {run.memory_format == torch.channels_last}",
        "gflop_per_image": counter.get_total_flops() / n / 1e9,
        "peak_tflops": matmul_peak(run.device) / 1e12,
        "runs": {},
    }
    warmup = args.warmup if args.warmup is not None else (10 if run.compile else 3)
    if run.cuda:
        torch.cuda.reset_peak_memory_stats(run.device)
    results["runs"]["compute only"] = timed(lambda: train(batch), args.steps, warmup, run)
    if args.data_root:
        try:
            dataset = data.load_datasets(args.data_root, config["data"]).train
        except data.DataError as error:
            raise SystemExit(f"data: {error}") from None
        sampler = data.SeededSampler(len(dataset), 0, shuffle=True)
        loader = data.make_loader(dataset, sampler, n, config["data"]["num_workers"], run.cuda)
        for decode in args.decode.split(","):
            if decode == "gpu" and not run.cuda:
                print("skipping --decode gpu: no CUDA device")
                continue
            dataset.decode = decode
            on_gpu = lambda batches: decoded(batches, dataset.transform, run, False)  # noqa: E731
            batches = epochs(sampler, loader, on_gpu if decode == "gpu" else iter)
            name = f"end to end, decode {decode}, {config['data']['num_workers']} workers"
            results["runs"][name] = timed(
                lambda: train(next(batches)), args.steps, warmup, run, wall=True
            )
    report(results, n)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


def epochs(sampler, loader, batches=iter):
    """The loader's batches, epoch after epoch, however few one epoch has."""
    while True:
        sampler.set_epoch(sampler.epoch + 1)
        yield from batches(loader)


def matmul_peak(device: torch.device) -> float:
    """The best dense matmul FLOP/s of 5 rounds: bf16 on a GPU (as reference benchmarks measure
    it), float32 on a CPU."""
    n, dtype, repeats = (
        (8192, torch.bfloat16, 20) if device.type == "cuda" else (1024, torch.float32, 3)
    )
    a = torch.randn(n, n, device=device, dtype=dtype)
    rounds = []
    for _ in range(6):  # the first round warms up
        started = time.perf_counter()
        for _ in range(repeats):
            a @ a
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        rounds.append(2 * n**3 * repeats / (time.perf_counter() - started))
    return max(rounds[1:])


def timed(step, steps: int, warmup: int, run, wall: bool = False) -> dict:
    """Seconds per step (the median: CUDA events on a GPU, the wall clock on a CPU; with `wall`,
    the mean over all steps, loading included) and peak GPU memory."""
    for _ in range(warmup):
        step()
    synchronize(run)
    times, started = [], time.perf_counter()
    for _ in range(steps):
        if run.cuda and not wall:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            step()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end) / 1000)
        else:
            begun = time.perf_counter()
            step()
            times.append(time.perf_counter() - begun)
    synchronize(run)
    seconds = (time.perf_counter() - started) / steps if wall else statistics.median(times)
    memory = torch.cuda.max_memory_allocated() / 2**30 if run.cuda else None
    return {"step_ms": seconds * 1000, "peak_memory_gib": memory}


def report(results: dict, n: int) -> None:
    print(f"{results['model']} on {results['device']}, {results['settings']}")
    flops, peak = results["gflop_per_image"], results["peak_tflops"]
    print(
        f"{flops:.2f} GFLOP per image (forward + backward), measured matmul peak {peak:.1f} TFLOP/s"
    )
    print(f"{'':44s} {'step ms':>9s} {'img/s':>9s} {'TFLOP/s':>8s} {'MFU':>6s} {'GPU GiB':>8s}")
    for name, run in results["runs"].items():
        run["img_per_s"] = n / run["step_ms"] * 1000
        run["tflops"] = flops * run["img_per_s"] / 1000
        run["mfu"] = run["tflops"] / peak
        memory = f"{run['peak_memory_gib']:.1f}" if run["peak_memory_gib"] is not None else "-"
        speed = (
            f"{run['step_ms']:9.1f} {run['img_per_s']:9.1f} {run['tflops']:8.2f} {run['mfu']:6.1%}"
        )
        print(f"{name:44s} {speed} {memory:>8s}")


if __name__ == "__main__":
    main()
