"""Measure training speed of SAN: compute only, and end to end from image files.

    python -m san_vgg_cnn.bench [--batch-size 32] [--data-root DIR] [--decode cpu,gpu] [--json FILE]

Compute only: a batch already on the device, the full training step (forward, backward,
optimizer) as train.py runs it, with the same speed switches. End to end (with --data-root):
the real loader, decoding on the CPU workers or on the GPU, and the same step. Prints step
time, images/s, achieved TFLOP/s (model FLOPs counted by torch.utils.flop_counter), MFU
against a matmul peak measured on this device, and peak GPU memory. Runs on a CPU too, with
small and honest numbers.
"""

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from . import data
from .model import SAN
from .phases import make_optimizer
from .train import Run, load_config, model_inputs, start_run


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m san_vgg_cnn.bench", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=Path(__file__).resolve().parent.parent / "configs" / "default.yaml",
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--image-size",
        type=int,
        help="benchmark at this size instead of the blueprint's",
    )
    parser.add_argument(
        "--steps", type=int, default=20, help="timed steps (the median is reported)"
    )
    parser.add_argument(
        "--warmup",
        type=int,
        help="untimed steps first (default: 10 with compile, 3 without)",
    )
    parser.add_argument(
        "--data-root", help="also measure end to end from this data folder"
    )
    parser.add_argument(
        "--decode", default="cpu,gpu", help="decode placements to measure end to end"
    )
    parser.add_argument(
        "--workers",
        type=int,
        help="loader processes for end to end (default: the config's)",
    )
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument(
        "--precision", choices=["auto", "bf16", "fp16", "fp32"], default="auto"
    )
    parser.add_argument(
        "--compile", action=argparse.BooleanOptionalAction, default=None
    )
    parser.add_argument(
        "--channels-last", action=argparse.BooleanOptionalAction, default=None
    )
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    return parser.parse_args(argv)


def matmul_peak(device: torch.device) -> float:
    """Measured dense matmul throughput in FLOP/s, the best of 5 rounds: bf16 on a GPU
    (as the reference benchmarks measure it), float32 on a CPU."""
    cuda = device.type == "cuda"
    n, dtype = (8192, torch.bfloat16) if cuda else (2048, torch.float32)
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    repeats = 20 if cuda else 3
    best = 0.0
    for _ in range(5):
        synchronize(device)
        started = time.perf_counter()
        for _ in range(repeats):
            a @ b
        synchronize(device)
        best = max(best, 2 * n**3 * repeats / (time.perf_counter() - started))
    return best


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(step, run: Run, steps: int, warmup: int) -> list[float]:
    """Seconds per step: CUDA events on a GPU, wall clock on a CPU."""
    for _ in range(warmup):
        step()
    synchronize(run.device)
    times = []
    for _ in range(steps):
        if run.cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(
                enable_timing=True
            )
            start.record()
            step()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end) / 1000)
        else:
            started = time.perf_counter()
            step()
            times.append(time.perf_counter() - started)
    return times


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    args.resume = None
    config = load_config(
        argparse.Namespace(
            config=args.config,
            seed=None,
            workers=args.workers,
            val_split=None,
            epochs=None,
            batch_size=args.batch_size,
            lr=None,
        )
    )
    run = start_run(args, config)
    torch.manual_seed(0)
    size = tuple(config["data"]["image_size"])
    if args.image_size:
        size = (args.image_size, round(args.image_size * size[1] / size[0]))
    model = SAN().to(device=run.device, memory_format=run.memory_format)
    model.train()
    optimizer = make_optimizer(
        list(model.parameters()), config["train"]["phases"][-1]["optimizer"], run.device
    )
    step_model = torch.compile(model) if run.compile else model
    n = args.batch_size
    images = torch.randint(
        0, 256, (n, data.CHANNELS, *size), dtype=torch.uint8, device=run.device
    )
    batch = {"image": images, "label": torch.randint(0, 1000, (n,), device=run.device)}
    # 14 words, as the reference benchmark
    batch["question"] = torch.randint(2, 10000, (n, 14), device=run.device)

    def train_step(batch: dict) -> None:
        with run.autocast():
            logits = step_model(*model_inputs(batch, run))
            loss = F.cross_entropy(
                logits.float(), batch["label"].to(run.device, non_blocking=True)
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    with FlopCounterMode(display=False) as counter:
        _eager_step(model, batch, run)
    flops_per_image = counter.get_total_flops() / n
    peak = matmul_peak(run.device)
    warmup = args.warmup if args.warmup is not None else (10 if run.compile else 3)
    results = {
        "model": "SAN",
        "blueprint": "san_vgg_cnn",
        "device": (
            torch.cuda.get_device_name(run.device)
            if run.cuda
            else f"CPU ({torch.get_num_threads()} threads)"
        ),
        "torch": torch.__version__,
        "precision": run.precision,
        "compile": run.compile,
        "channels_last": run.memory_format == torch.channels_last,
        "batch_size": n,
        "image_size": list(size),
        "gflop_per_image": flops_per_image / 1e9,
        "peak_tflops": peak / 1e12,
        "runs": [],
    }
    if run.cuda:
        torch.cuda.reset_peak_memory_stats(run.device)
    seconds = statistics.median(
        timed(lambda: train_step(batch), run, args.steps, warmup)
    )
    results["runs"].append(
        summary("compute only", seconds, n, flops_per_image, peak, run)
    )

    if args.data_root:
        for decode in args.decode.split(","):
            if decode == "gpu" and not run.cuda:
                print("skipping --decode gpu: no CUDA device")
                continue
            results["runs"].append(
                end_to_end(
                    args,
                    config,
                    run,
                    size,
                    decode,
                    train_step,
                    flops_per_image,
                    peak,
                    warmup,
                )
            )
    print_table(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


def _eager_step(model, batch: dict, run: Run) -> None:
    """Forward and backward without compile, for counting FLOPs (the counter does not see inside
    compiled code); the weights do not change."""
    with run.autocast():
        loss = F.cross_entropy(model(*model_inputs(batch, run)).float(), batch["label"])
    loss.backward()
    model.zero_grad(set_to_none=True)


def end_to_end(
    args,
    config,
    run: Run,
    size,
    decode: str,
    train_step,
    flops_per_image: float,
    peak: float,
    warmup: int,
) -> dict:
    """The real loader (files read, decoded on the CPU workers or on the GPU) and the step."""
    try:
        datasets = data.load_datasets(
            args.data_root, config["data"], size, decode=decode, seed=0
        )
    except data.DataError as error:
        raise SystemExit(f"data: {error}") from None
    train_tf, _ = data.build_transforms(size, datasets.source)
    sampler = data.SeededSampler(len(datasets.train), 0, shuffle=True)
    loader = data.make_loader(
        datasets.train,
        sampler,
        args.batch_size,
        config["data"]["num_workers"],
        run.cuda,
        drop_last=True,
    )
    needed = warmup + args.steps
    if len(loader) < needed:
        print(
            f"note: {len(loader)} batches in the data, fewer than {needed}: the loader restarts"
        )
    batches = iter([])

    def next_batch() -> dict:
        nonlocal batches
        try:
            return next(batches)
        except StopIteration:
            sampler.set_epoch(sampler.epoch + 1)
            batches = iter(loader)
            return next(batches)

    def step() -> None:
        batch = next_batch()
        if "data" in batch:  # decode on the device, then the same step on pixels
            batch = {
                **batch,
                "image": data.decode_on_device(batch, train_tf, run.device),
            }
        train_step(batch)

    for _ in range(warmup):
        step()
    synchronize(run.device)
    started = time.perf_counter()
    for _ in range(args.steps):
        step()
    synchronize(run.device)
    seconds = (time.perf_counter() - started) / args.steps
    return summary(
        f"end to end, decode {decode}, {config['data']['num_workers']} workers",
        seconds,
        args.batch_size,
        flops_per_image,
        peak,
        run,
    )


def summary(
    name: str, seconds: float, n: int, flops_per_image: float, peak: float, run: Run
) -> dict:
    achieved = flops_per_image * n / seconds
    return {
        "run": name,
        "step_ms": seconds * 1000,
        "img_per_s": n / seconds,
        "tflops": achieved / 1e12,
        "mfu": achieved / peak,
        "peak_memory_gib": (
            torch.cuda.max_memory_allocated(run.device) / 2**30 if run.cuda else None
        ),
    }


def print_table(results: dict) -> None:
    print(
        f"{results['model']} ({results['blueprint']}) on {results['device']}, torch {results['torch']}"
    )
    print(
        f"batch {results['batch_size']}, {results['image_size'][0]}x{results['image_size'][1]} px, {results['precision']}, "
        f"compile {results['compile']}, channels_last {results['channels_last']}; "
        f"{results['gflop_per_image']:.1f} GFLOP per image (forward + backward); "
        f"measured matmul peak {results['peak_tflops']:.1f} TFLOP/s"
    )
    print(
        f"{'':44s} {'step ms':>9s} {'img/s':>9s} {'TFLOP/s':>8s} {'MFU':>6s} {'GPU GiB':>8s}"
    )
    for r in results["runs"]:
        memory = (
            f"{r['peak_memory_gib']:.1f}" if r["peak_memory_gib"] is not None else "-"
        )
        print(
            f"{r['run']:44s} {r['step_ms']:9.1f} {r['img_per_s']:9.1f} {r['tflops']:8.2f} {r['mfu']:6.1%} {memory:>8s}"
        )


if __name__ == "__main__":
    main()
