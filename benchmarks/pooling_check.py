"""The generated B-CNN's bilinear pooling, against float64: is it true float32 on a GPU?

    python benchmarks/pooling_check.py --project examples/bcnn_vgg16 [--device cpu] [--json FILE]

Training turns TF32 on for every matrix product (train.py's Run), and trains in bf16 autocast;
the pooling promises true float32 for its mean outer product, forward and backward. This imports
the project's model.py, sets TF32 on as training does, and runs `bilinear_pool` under bf16
autocast on relu5_3-like float32 features (N x 512 x 28 x 28 at 448 px), then compares with the
same pooling in float64: the outer product (the Gram matrix, before the square root), the pooled
output and the gradient of the input; for contrast, the same product with TF32 left on. Also
times the outer product, forward and backward, with TF32 off (as it runs) and on.
`benchmarks/gpu_check.py` runs it; it needs only torch.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from pathlib import Path

import torch


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python benchmarks/pooling_check.py")
    add = parser.add_argument
    add("--project", type=Path, required=True, help="a generated B-CNN project's folder")
    add("--package", help="its package (default: the folder's name, as in examples/)")
    add("--device", choices=["cuda", "cpu"], default="cuda")
    add("--batch-size", type=int, default=32)
    add("--channels", type=int, default=512)
    add("--positions", type=int, default=28, help="H = W of the features (28 at 448 px)")
    add("--repeats", type=int, default=20, help="timed passes of the pooling")
    add("--json", type=Path, help="also write the results to this file")
    return parser.parse_args(argv)


def relative(value: torch.Tensor, reference: torch.Tensor) -> float:
    """The Frobenius-norm error of `value` relative to `reference`."""
    value, reference = value.double(), reference.double()
    return ((value - reference).norm() / reference.norm()).item()


def reference_pool(x: torch.Tensor, eps: float, signed: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The Gram matrix and the pooled output, in float64."""
    n, c, h, w = x.shape
    flat = x.double().reshape(n, c, h * w)
    gram = flat @ flat.transpose(1, 2) / (h * w)
    pooled = gram.reshape(n, c * c)
    pooled = (
        torch.sign(pooled) * torch.sqrt(pooled.abs() + eps) if signed else pooled.add(eps).sqrt()
    )
    return gram, pooled / pooled.norm(dim=1, keepdim=True)


def timed(function, repeats: int, cuda: bool) -> float:
    """Median seconds of `function()`."""
    times = []
    for _ in range(repeats + 2):
        if cuda:
            torch.cuda.synchronize()
        started = time.perf_counter()
        function()
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - started)
    return sorted(times[2:])[len(times[2:]) // 2]


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("pooling_check: no CUDA GPU here; on a CPU, pass --device cpu")
    project = args.project.resolve()
    sys.path.insert(0, str(project))
    model = importlib.import_module(f"{args.package or project.name}.model")
    device, cuda = torch.device(args.device), args.device == "cuda"
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True  # as training
    eps, signed = 1e-5, True  # the bundled blueprint's
    generator = torch.Generator().manual_seed(0)
    shape = (args.batch_size, args.channels, args.positions, args.positions)
    # relu5_3-like: non-negative, half of them zeros; float32 values, as `--precision fp32` gives
    # them (bf16 values have 8 mantissa bits, which TF32's 10 keep: only the backward pass differs)
    x = torch.randn(shape, generator=generator).relu_().to(device).requires_grad_()

    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=True):
        pooled = model.bilinear_pool(x, eps=eps, signed=signed)
    upstream = torch.randn(pooled.shape, generator=generator).to(device)
    (pooled * upstream).sum().backward()
    tf32_after = torch.backends.cuda.matmul.allow_tf32

    flat = x.detach().reshape(shape[0], shape[1], -1)
    gram = model.MeanOuterProduct.apply(flat)
    tf32_gram = torch.bmm(flat, flat.transpose(1, 2)) / flat.shape[2]  # TF32 on: for contrast
    x64 = x.detach().double().requires_grad_()
    gram64, pooled64 = reference_pool(x64, eps, signed)
    (pooled64 * upstream.double()).sum().backward()

    leaf = flat.detach().requires_grad_()

    def product(fp32: bool) -> None:
        """The mean outer product, forward and backward: as the pooling runs it (TF32 off inside)
        or as plain torch code runs it with training's TF32 on."""
        if fp32:
            gram = model.MeanOuterProduct.apply(leaf)
        else:
            gram = torch.bmm(leaf, leaf.transpose(1, 2)) / leaf.shape[2]
        gram.sum().backward()

    results = {
        "device": torch.cuda.get_device_name() if cuda else "CPU",
        "shape": list(shape),
        "gram_error": relative(gram, gram64),
        "gram_error_tf32": relative(tf32_gram, gram64),
        "pooled_error": relative(pooled.detach(), pooled64.detach()),
        "grad_error": relative(x.grad, x64.grad),
        "tf32_restored": tf32_after,
        "product_ms_fp32": timed(lambda: product(True), args.repeats, cuda) * 1000,
        "product_ms_tf32": timed(lambda: product(False), args.repeats, cuda) * 1000,
    }
    print(json.dumps(results, indent=1))
    if args.json:
        args.json.write_text(json.dumps({"runs": {"pooling": results}}, indent=1))
    return results


if __name__ == "__main__":
    main()
