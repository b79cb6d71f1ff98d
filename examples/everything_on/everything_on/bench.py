"""Measure the training speed of SmallNet: compute only, and end to end from the data.

    python -m everything_on.bench [--data-root DIR --decode cpu,gpu,gpu-inline] [--json FILE]

Compute only: a batch already on the device and train.py's step. End to end (--data-root): the
real loader, decoding in the workers (cpu) or on the GPU (gpu: one batch ahead, on a CUDA stream of
its own; gpu-inline: in turn with the steps), and the same step. Prints ms per step, images/s,
TFLOP/s (torch.utils.flop_counter) and MFU against a matmul peak measured on this device.
"""

import argparse
import json
import sys
import time
from itertools import count, repeat
from pathlib import Path

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from . import Refused, data
from .model import SmallNet
from .phases import make_optimizer
from .train import (
    DEFAULT_CONFIG,
    make_parser,
    model_inputs,
    read_config,
    start_run,
    train_step,
    training_loss,
)
from .train import Decoded  # --decode gpu, end to end

DECODES = ("cpu", "gpu", "gpu-inline")  # in the loader workers; on the GPU, ahead or in turn


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = make_parser("bench", __doc__)
    add = parser.add_argument
    add("--config", type=Path, default=DEFAULT_CONFIG, help="training settings")
    add("--batch-size", type=int, default=128)
    add("--image-size", type=int, help="measure at this size instead of the blueprint's")
    add("--steps", type=int, default=20, help="timed steps")
    add("--warmup", type=int, help="untimed steps first (default: 10 with compile, 3 without)")
    add("--data-root", help="also measure end to end from this data folder")
    add(
        "--decode",
        default="cpu,gpu",
        help=f"where to decode JPEG files, end to end ({', '.join(DECODES)})",
    )
    add("--workers", type=int, help="loader processes, end to end (default: the config's)")
    add("--device", choices=["auto", "cpu", "cuda"], default="auto")
    add("--precision", choices=["auto", "bf16", "fp16", "fp32"], default="auto")
    add("--compile", action=argparse.BooleanOptionalAction)
    add("--channels-last", action=argparse.BooleanOptionalAction)
    add("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args(argv)
    unknown = set(args.decode.split(",")) - set(DECODES)
    if unknown:
        parser.error(f"--decode: unknown {','.join(sorted(unknown))} (known: {','.join(DECODES)})")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    config = read_config(args.config)
    args.grad_clip, args.skip_nonfinite = config["train"]["grad_clip"], False
    run = start_run(args)
    torch.manual_seed(0)
    if args.image_size:
        height, width = config["data"]["image_size"]
        config["data"]["image_size"] = [args.image_size, round(args.image_size * width / height)]
    n, size = args.batch_size, config["data"]["image_size"]
    model = SmallNet().to(device=run.device, memory_format=run.memory_format)
    criterion = nn.CrossEntropyLoss()
    scaler = torch.amp.GradScaler(run.device.type, enabled=run.precision == "fp16")
    optimizer = make_optimizer(model.parameters(), config["train"]["optimizer"], run.device)
    images = torch.randint(0, 256, (n, data.CHANNELS, *size), dtype=torch.uint8, device=run.device)
    batch = {"image": images, "label": torch.randint(0, 10, (n,), device=run.device)}
    with FlopCounterMode(display=False) as counter:  # forward and backward, without compile
        training_loss(criterion, model(*model_inputs(batch, run)[0]), batch["label"])[0].backward()
    flop, peak = counter.get_total_flops() / n, matmul_peak(run.device)
    step, step_model = train_step, torch.compile(model) if run.compile else model
    warmup = args.warmup if args.warmup is not None else (10 if run.compile else 3)
    cpu = f"CPU ({torch.get_num_threads()} threads)"
    device = torch.cuda.get_device_name(run.device) if run.cuda else cpu
    layout = "channels_last" if run.memory_format == torch.channels_last else "contiguous"
    setup = f"batch {n}, {size[0]}x{size[1]} px, {run.precision}, compile {run.compile}, {layout}"
    results = {"model": "SmallNet (everything_on)", "device": device, "settings": setup, "runs": {}}
    results |= {"gflop_per_image": flop / 1e9, "peak_tflops": peak / 1e12}

    def measure(name: str, batches) -> None:
        """Time train.py's step on the batches (end to end, loading included); print the numbers."""
        for i in range(warmup + args.steps):
            if i == warmup:
                run.synchronize()
                started = time.perf_counter()
            inputs, labels = model_inputs(next(batches), run)
            step(step_model, criterion, optimizer, scaler, inputs, labels, run, args)
        run.synchronize()
        seconds = (time.perf_counter() - started) / args.steps
        speed = n / seconds
        memory = torch.cuda.max_memory_allocated() / 2**30 if run.cuda else None
        figures = {"step_ms": seconds * 1000, "img_per_s": speed, "tflops": speed * flop / 1e12}
        figures |= {"mfu": speed * flop / peak, "peak_memory_gib": memory}
        results["runs"][name] = figures
        numbers = "{step_ms:9.1f} {img_per_s:9.1f} {tflops:8.2f} {mfu:6.1%}".format(**figures)
        print(f"{name:44s} {numbers} {'-' if memory is None else f'{memory:.1f}':>8s}")

    print(f"{results['model']} on {device}, {setup}")
    print(f"{flop / 1e9:.2f} GFLOP per image trained; matmul peak {peak / 1e12:.1f} TFLOP/s")
    print(f"{'':44s} {'step ms':>9s} {'img/s':>9s} {'TFLOP/s':>8s} {'MFU':>6s} {'GPU GiB':>8s}")
    if run.cuda:
        torch.cuda.reset_peak_memory_stats(run.device)
    measure("compute only", repeat(batch))
    workers = config["data"]["num_workers"] if args.workers is None else args.workers
    for decode in args.decode.split(",") if args.data_root else []:
        if decode != "cpu" and not run.cuda:
            print(f"skipping --decode {decode}: no CUDA device")
            continue
        batches = loaded(args.data_root, config, n, workers, run, decode)
        measure(f"end to end, decode {decode}, {workers} workers", batches)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


def loaded(root: str, config: dict, batch_size: int, workers: int, run, decode: str):
    """Training batches from the data at `root`, epoch after epoch, from a loader of their own
    (persistent workers keep the data set they started with, and with it its decoding)."""
    try:
        dataset = data.load_datasets(
            root, config["data"], decode="cpu" if decode == "cpu" else "gpu"
        ).train
    except data.DataError as error:
        raise Refused(f"data: {error}") from None
    sampler = data.SeededSampler(len(dataset), 0, shuffle=True)
    loader = data.make_loader(dataset, sampler, batch_size, workers, run.cuda)
    for epoch in count():
        sampler.set_epoch(epoch)
        if decode == "cpu":
            yield from loader
        else:  # the files' bytes, decoded on the device
            yield from Decoded(loader, dataset.transform, run, False, ahead=decode == "gpu")


def matmul_peak(device: torch.device) -> float:
    """The best dense matmul FLOP/s of 5 rounds: bf16 on a GPU (as reference benchmarks measure
    it), float32 on a CPU."""
    cuda = device.type == "cuda"
    n, dtype, repeats = (8192, torch.bfloat16, 20) if cuda else (1024, torch.float32, 3)
    a, rounds = torch.randn(n, n, device=device, dtype=dtype), []
    for _ in range(6):  # the first round warms up
        started = time.perf_counter()
        for _ in range(repeats):
            a @ a
        if cuda:
            torch.cuda.synchronize(device)
        rounds.append(2 * n**3 * repeats / (time.perf_counter() - started))
    return max(rounds[1:])


if __name__ == "__main__":
    try:
        main()
    except Refused as refusal:  # what was asked cannot be done: one line, exit status 2
        print(f"python -m {__package__}.bench: error: {refusal}", file=sys.stderr)
        sys.exit(2)
