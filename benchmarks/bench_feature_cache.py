"""The generated B-CNN's first phase with its VGG-16 features cached, against computing them, in one
command.

    python benchmarks/bench_feature_cache.py [--epochs 3] [--image-size 64] [--keep DIR]

Makes a folder of real handwritten digits (scikit-learn's load_digits, 1,797 8x8 images, no
download) upscaled to RGB PNGs, train/0..9 and val/0..9 (every fifth digit for validation).
Generates the bundled B-CNN blueprint with `cache_features: eval` on its first phase (only fc
trains, VGG-16 frozen; the phase then trains on the evaluation transforms' images, as its random
flips and crops cannot be cached), and runs that phase alone (a config without the second phase)
at --image-size px with --no-pretrained (nothing to download; the time does not depend on the
weights), in a process of its own each:

- computed: `cache_features: false` in the config: VGG-16 runs on every image in every epoch;
- cached, cold: VGG-16 runs once per image, into a new cache, before the first epoch;
- cached, warm: the same command again: every row of that cache is reused.

Prints the training loop's speed (img/s, the median over the epochs), the wall time of each whole
command (start-up, cache building and validation included), and their ratios.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent


def make_digits(root: Path, size: int) -> None:
    import torch
    import torch.nn.functional as F
    from sklearn.datasets import load_digits
    from torchvision.io import write_png

    digits = load_digits()
    images = torch.tensor(digits.images, dtype=torch.float32)[:, None] / 16
    images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
    images = (images.clamp(0, 1) * 255).round().to(torch.uint8).repeat(1, 3, 1, 1)
    for i, label in enumerate(digits.target):
        folder = root / ("val" if i % 5 == 0 else "train") / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        write_png(images[i], str(folder / f"{i:04d}.png"))


def make_project(work: Path) -> Path:
    """The bundled B-CNN with its first phase cached, and two configs of that phase alone."""
    blueprint = yaml.safe_load((REPO / "blueprints" / "bcnn_vgg16.yaml").read_text())
    blueprint["train"]["phases"][0]["cache_features"] = "eval"
    (work / "bcnn.yaml").write_text(yaml.safe_dump(blueprint, sort_keys=False))
    project = work / "bcnn"
    new = [sys.executable, "-m", "scaffold", "new", "--blueprint", str(work / "bcnn.yaml")]
    subprocess.run([*new, str(project), "--no-git"], cwd=REPO, check=True, capture_output=True)
    config = yaml.safe_load((project / "configs" / "default.yaml").read_text())
    config["train"]["phases"] = config["train"]["phases"][:1]
    for name, value in (("cached", "eval"), ("computed", False)):
        config["train"]["phases"][0]["cache_features"] = value
        (project / "configs" / f"{name}.yaml").write_text(yaml.safe_dump(config))
    return project


def run(project: Path, config: str, args, out: Path, cache: Path) -> tuple[list[dict], float]:
    command = [sys.executable, "-m", "bcnn.train", "--config", str(project / "configs" / config)]
    command += ["--data-root", str(args.digits), "--device", "cpu", "--no-pretrained"]
    command += ["--image-size", str(args.image_size), "--epochs", str(args.epochs)]
    command += ["--workers", str(args.workers), "--out", str(out), "--feature-cache", str(cache)]
    started = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(project)}
    done = subprocess.run(command, cwd=project, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    seconds = time.perf_counter() - started
    with open(out / "metrics.csv") as f:
        return list(csv.DictReader(f)), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="keep the digits, project and runs here")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-cache-"))
    work.mkdir(parents=True, exist_ok=True)
    args.digits = work / f"digits{args.image_size}"
    if not args.digits.exists():
        make_digits(args.digits, args.image_size)
    project = work / "bcnn"
    if not project.exists():
        project = make_project(work)
    cache = work / "feature_cache"
    shutil.rmtree(cache, ignore_errors=True)
    results = {}
    for name, config in (
        ("computed", "computed.yaml"),
        ("cached, cold", "cached.yaml"),
        ("cached, warm", "cached.yaml"),
    ):
        out = work / name.replace(", ", "-")
        shutil.rmtree(out, ignore_errors=True)
        results[name] = run(project, config, args, out, cache)
    images = len(list((args.digits / "train").rglob("*.png")))
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores; B-CNN phase 1"
        f" (VGG-16 frozen, fc trains) at {args.image_size} px, {images} train digits,"
        f" {args.epochs} epochs, {args.workers} loader workers\n"
    )
    print(f"{'':14s} {'train img/s':>12s} {'wall s':>8s} {'first train_loss':>17s}")
    speed, wall = {}, {}
    for name, (rows, seconds) in results.items():
        speed[name] = statistics.median(float(row["img_per_s"]) for row in rows)
        wall[name] = seconds
        loss = float(rows[0]["train_loss"])
        print(f"{name:14s} {speed[name]:12.0f} {seconds:8.1f} {loss:17.6f}")
    for name in ("cached, cold", "cached, warm"):
        print(
            f"\n{name} / computed: {speed[name] / speed['computed']:.1f}x training speed,"
            f" {wall['computed'] / wall[name]:.2f}x wall time",
            end="",
        )
    print()
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
