"""Hand-tuned references for the generated B-CNN and SAN: their training step, compute only.

    python benchmarks/gpu_reference.py --model bcnn|san [--batch-size 32] [--steps 20] [--json FILE]

The same networks as the blueprints bcnn_vgg16 and san_vgg_lstm, written by hand with no code from
scaffold, and trained the fastest way known for one GPU (../shared/notes/performance.md, variant
"bf16_cl_compile" of ../shared/bench/gpu_anchor.py, which measured 1131 img/s for the B-CNN and 1102
for the SAN on an H100): bf16 autocast, channels_last, torch.compile, fused SGD, cudnn.benchmark
and TF32. A synthetic batch already on the device, so this is model compute only.

`benchmarks/gpu_check.py` runs it beside the generated projects' `python -m PKG.bench` and compares
images/s. Timing is the generated bench's: warm-up steps first (compilation), then the median of
per-step CUDA-event times (the wall clock on a CPU). The JSON has the bench's layout:
`runs["compute only"]` with `step_ms`, `img_per_s`, `tflops` and `peak_memory_gib`.

Where the generated models differ from these, on purpose (same FLOPs to within 1%):
- the generated B-CNN keeps its bilinear pooling in float32 under autocast (here the outer
  product runs in bf16, as in gpu_anchor.py), and normalises a uint8 batch each step;
- the generated SAN reads the LSTM state after each question's last real word (here: the last
  step), and trains with its blueprint's RMSprop and gradient clipping (here: fused SGD).
On a CPU the defaults are those of the generated bench: float32, no compile, no channels_last.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

VGG16 = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


def vgg16_features(pool5: bool) -> nn.Sequential:
    layers, channels = [], 3
    for v in VGG16 if pool5 else VGG16[:-1]:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(channels, v, 3, padding=1), nn.ReLU(inplace=True)]
            channels = v
    return nn.Sequential(*layers)


class BCNN(nn.Module):
    """B-CNN [D,D]: VGG-16 to conv5_3 (no pool5), bilinear pooling, signed sqrt, L2, linear."""

    def __init__(self, classes: int = 200) -> None:
        super().__init__()
        self.features = vgg16_features(pool5=False)
        self.fc = nn.Linear(512 * 512, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        n, c, h, w = x.shape
        x = x.reshape(n, c, h * w).float()
        x = torch.bmm(x, x.transpose(1, 2)) / (h * w)
        x = x.reshape(n, c * c)
        x = torch.sign(x) * torch.sqrt(torch.abs(x) + 1e-10)
        return self.fc(F.normalize(x))


class SAN(nn.Module):
    """SAN(2, LSTM): stacked attention over VGG-16 pool5 regions and an LSTM question vector."""

    def __init__(
        self, vocab: int = 10000, answers: int = 1000, d: int = 1024, k: int = 512
    ) -> None:
        super().__init__()
        self.cnn = vgg16_features(pool5=True)
        self.img = nn.Linear(512, d)
        self.emb = nn.Embedding(vocab, 500)
        self.lstm = nn.LSTM(500, d, batch_first=True)
        self.wi = nn.ModuleList(nn.Linear(d, k, bias=False) for _ in range(2))
        self.wq = nn.ModuleList(nn.Linear(d, k) for _ in range(2))
        self.wp = nn.ModuleList(nn.Linear(k, 1) for _ in range(2))
        self.out = nn.Linear(d, answers)
        self.drop = nn.Dropout(0.5)

    def forward(self, image: torch.Tensor, question: torch.Tensor) -> torch.Tensor:
        v = torch.tanh(self.img(self.cnn(image).flatten(2).transpose(1, 2)))  # N, regions, d
        _, (h, _) = self.lstm(self.emb(question))
        u = h[-1]
        for wi, wq, wp in zip(self.wi, self.wq, self.wp):
            ha = torch.tanh(wi(v) + wq(u)[:, None, :])
            p = torch.softmax(wp(self.drop(ha)).squeeze(-1), dim=1)
            u = (p[:, :, None] * v).sum(1) + u
        return self.out(self.drop(u))


QUESTION_WORDS = 14  # as the generated SAN bench
NAMES = {"bcnn": "B-CNN", "san": "SAN"}


def make_batch(model: str, n: int, size: int, device: torch.device) -> tuple[nn.Module, list]:
    """The model and a synthetic batch [inputs..., labels] on the device."""
    images = torch.randn(n, 3, size, size, device=device)
    if model == "bcnn":
        return BCNN(), [images, torch.randint(0, 200, (n,), device=device)]
    question = torch.randint(1, 10000, (n, QUESTION_WORDS), device=device)
    return SAN(), [images, question, torch.randint(0, 1000, (n,), device=device)]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--model", choices=["bcnn", "san"], required=True)
    add("--batch-size", type=int, default=32)
    add("--image-size", type=int, default=448)
    add("--steps", type=int, default=20, help="timed steps (the median is reported)")
    add("--warmup", type=int, help="untimed steps first (default: 10 with compile, 3 without)")
    add("--device", choices=["auto", "cpu", "cuda"], default="auto")
    add("--precision", choices=["auto", "bf16", "fp32"], default="auto")
    add("--compile", action=argparse.BooleanOptionalAction)
    add("--channels-last", action=argparse.BooleanOptionalAction)
    add("--json", type=Path, help="also write the results to this file")
    return parser.parse_args(argv)


def measure(args: argparse.Namespace) -> dict:
    cuda = args.device != "cpu" and torch.cuda.is_available()
    if args.device == "cuda" and not cuda:
        raise SystemExit("--device cuda: no CUDA GPU is available")
    device = torch.device("cuda" if cuda else "cpu")
    bf16 = args.precision == "bf16" or (args.precision == "auto" and cuda)
    compiled = cuda if args.compile is None else args.compile
    channels_last = cuda if args.channels_last is None else args.channels_last
    if cuda:
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    torch.manual_seed(0)
    model, batch = make_batch(args.model, args.batch_size, args.image_size, device)
    model = model.to(device)
    criterion = nn.CrossEntropyLoss()
    with FlopCounterMode(display=False) as counter:  # forward and backward, before compile
        criterion(model(*batch[:-1]).float(), batch[-1]).backward()
    model.zero_grad(set_to_none=True)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        batch[0] = batch[0].contiguous(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(
        model.parameters(), lr=1e-3, momentum=0.9, weight_decay=1e-5, fused=cuda or None
    )
    step_model = torch.compile(model) if compiled else model

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = criterion(step_model(*batch[:-1]).float(), batch[-1])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    if cuda:
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    for _ in range(args.warmup if args.warmup is not None else (10 if compiled else 3)):
        step()
    if cuda:
        torch.cuda.synchronize()
    warmup_s = time.perf_counter() - started
    times = []
    for _ in range(args.steps):
        if cuda:
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
    seconds, n = statistics.median(times), args.batch_size
    gflop = counter.get_total_flops() / n / 1e9
    run = {
        "step_ms": seconds * 1000,
        "img_per_s": n / seconds,
        "tflops": gflop * n / seconds / 1000,
        "peak_memory_gib": torch.cuda.max_memory_allocated() / 2**30 if cuda else None,
        "warmup_s": warmup_s,
    }
    precision = "bf16" if bf16 else "fp32"
    return {
        "model": f"hand-tuned {NAMES[args.model]} (benchmarks/gpu_reference.py)",
        "device": (
            torch.cuda.get_device_name() if cuda else f"CPU ({torch.get_num_threads()} threads)"
        ),
        "settings": f"batch {n}, {args.image_size}x{args.image_size} px, {precision}, compile "
        f"{compiled}, channels_last {channels_last}",
        "gflop_per_image": gflop,
        "runs": {"compute only": run},
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    results = measure(args)
    run = results["runs"]["compute only"]
    print(f"{results['model']} on {results['device']}, {results['settings']}")
    print(
        f"compute only: {run['step_ms']:.1f} ms/step, {run['img_per_s']:.1f} img/s, "
        f"{run['tflops']:.2f} TFLOP/s ({results['gflop_per_image']:.1f} GFLOP/image), "
        f"warm-up {run['warmup_s']:.1f} s"
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
