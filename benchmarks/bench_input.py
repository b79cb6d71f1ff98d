"""The generated LeNet on a folder of small PNGs against the PyTorch tutorial's loop, in one command.

    python benchmarks/bench_input.py [--epochs 10] [--repeat 2] [--keep DIR]

Makes a folder of real handwritten digits: scikit-learn's load_digits (1,797 8x8 images, no
download) upscaled to 28x28 PNGs, train/0..9 and val/0..9 (80/20 of every class). Generates the
bundled LeNet blueprint and trains it on that folder two ways, each in a process of its own, taking
turns `--repeat` times:

- generated: `python -m lenet.train --data-root DIR --device cpu`, the blueprint's recipe
  (SGD lr 0.01 momentum 0.9, cosine, batch 64, pad 2, MNIST normalisation);
- tutorial: the same LeNet and recipe written by hand the tutorial's way, torchvision ImageFolder
  and a DataLoader with 2 workers (`--reference`, below).

Prints the training speed of both (images/s of the training loop, median over the epochs after the
first; and the wall time of the whole command), their ratio, and the best validation accuracy of
each: the generated project must learn as well as the hand-written code.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def make_digits(root: Path) -> None:
    """train/DIGIT/*.png and val/DIGIT/*.png: every class split 80/20 with a fixed seed."""
    import numpy as np
    import torch
    import torch.nn.functional as F
    from sklearn.datasets import load_digits
    from torchvision.io import write_png

    digits = load_digits()
    images = torch.tensor(digits.images, dtype=torch.float32)[:, None] / 16
    images = F.interpolate(images, size=(28, 28), mode="bilinear", align_corners=False)
    images = (images.clamp(0, 1) * 255).round().to(torch.uint8)
    rng = np.random.default_rng(0)
    for label in range(10):
        members = np.flatnonzero(digits.target == label)
        rng.shuffle(members)
        cut = round(len(members) * 0.8)
        for split, part in (("train", members[:cut]), ("val", members[cut:])):
            folder = root / split / str(label)
            folder.mkdir(parents=True, exist_ok=True)
            for i in part:
                write_png(images[i], str(folder / f"{i:04d}.png"))


def reference(data_root: Path, epochs: int, out: Path) -> None:
    """LeNet and the blueprint's recipe written by hand, as the PyTorch tutorials do."""
    import torch
    import torch.nn.functional as F
    from torch import nn
    from torchvision import datasets, transforms

    class LeNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1, self.conv2 = nn.Conv2d(1, 6, 5), nn.Conv2d(6, 16, 5)
            self.fc1, self.fc2, self.fc3 = (
                nn.Linear(400, 120),
                nn.Linear(120, 84),
                nn.Linear(84, 10),
            )

        def forward(self, x):
            x = F.max_pool2d(F.relu(self.conv1(x)), 2)
            x = F.max_pool2d(F.relu(self.conv2(x)), 2)
            x = torch.flatten(x, 1)
            return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))

    torch.manual_seed(0)
    transform = transforms.Compose(
        [
            transforms.Grayscale(),
            transforms.Pad(2),
            transforms.ToTensor(),
            transforms.Normalize((0.1307,), (0.3081,)),
        ]
    )
    train = datasets.ImageFolder(str(data_root / "train"), transform)
    val = datasets.ImageFolder(str(data_root / "val"), transform)
    loader = torch.utils.data.DataLoader(train, batch_size=64, shuffle=True, num_workers=2)
    val_loader = torch.utils.data.DataLoader(val, batch_size=64, num_workers=2)
    model = LeNet()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    rows = []
    for epoch in range(epochs):
        model.train()
        started, images = time.perf_counter(), 0
        for x, y in loader:
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            images += len(y)
        seconds = time.perf_counter() - started
        schedule.step()
        model.eval()
        correct = 0
        with torch.no_grad():
            for x, y in val_loader:
                correct += (model(x).argmax(1) == y).sum().item()
        rows.append(
            {"epoch": epoch + 1, "val_acc": correct / len(val), "img_per_s": images / seconds}
        )
    out.write_text(json.dumps(rows))


def run_generated(project: Path, data_root: Path, epochs: int, out: Path) -> tuple[list, float]:
    command = [
        sys.executable,
        "-m",
        "lenet.train",
        "--data-root",
        str(data_root),
        "--device",
        "cpu",
    ]
    command += ["--epochs", str(epochs), "--out", str(out)]
    seconds = timed(command, project)
    with open(out / "metrics.csv") as f:
        rows = [{k: float(v) for k, v in row.items() if k != "phase"} for row in csv.DictReader(f)]
    return rows, seconds


def run_reference(data_root: Path, epochs: int, out: Path) -> tuple[list, float]:
    command = [sys.executable, __file__, "--reference", str(data_root), "--epochs", str(epochs)]
    seconds = timed([*command, "--out", str(out)], REPO)
    return json.loads(out.read_text()), seconds


def timed(command: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=2, help="runs of each, taking turns")
    parser.add_argument("--keep", type=Path, help="keep the digits, project and runs here")
    parser.add_argument("--reference", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.reference:
        return reference(args.reference, args.epochs, args.out)
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-input-"))
    work.mkdir(parents=True, exist_ok=True)
    digits, project = work / "digits", work / "lenet"
    if not digits.exists():
        make_digits(digits)
    if not project.exists():
        new = [sys.executable, "-m", "scaffold", "new", "--blueprint", "lenet", str(project)]
        subprocess.run([*new, "--no-git"], cwd=REPO, check=True, capture_output=True)
    results = {"generated": [], "tutorial": []}
    for i in range(args.repeat):
        for name, run in (("generated", run_generated), ("tutorial", run_reference)):
            out = work / f"{name}-{i}"
            shutil.rmtree(out, ignore_errors=True)
            if name == "generated":
                rows, seconds = run(project, digits, args.epochs, out)
            else:
                rows, seconds = run(digits, args.epochs, out.with_suffix(".json"))
            results[name].append((rows, seconds))
    print(
        f"{platform.processor() or platform.machine()}, {len(list((digits / 'train').rglob('*.png')))}"
        f" train / {len(list((digits / 'val').rglob('*.png')))} val digits, {args.epochs} epochs,"
        f" {args.repeat} runs of each\n"
    )
    print(
        f"{'':10s} {'train img/s':>12s} {'wall s':>8s} {'best val_acc':>13s} {'last val_acc':>13s}"
    )
    speed = {}
    for name, runs in results.items():
        speeds = [
            statistics.median(row["img_per_s"] for row in rows[1:] or rows) for rows, _ in runs
        ]
        speed[name] = statistics.median(speeds)
        wall = statistics.median(seconds for _, seconds in runs)
        best = statistics.median(max(row["val_acc"] for row in rows) for rows, _ in runs)
        last = statistics.median(rows[-1]["val_acc"] for rows, _ in runs)
        print(f"{name:10s} {speed[name]:12.0f} {wall:8.1f} {best:13.4f} {last:13.4f}")
    walls = {name: statistics.median(s for _, s in runs) for name, runs in results.items()}
    print(
        f"\ngenerated / tutorial: {speed['generated'] / speed['tutorial']:.2f}x training speed,"
        f" {walls['tutorial'] / walls['generated']:.2f}x wall time"
    )
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
