"""Evaluate a checkpoint of SmallNet on the validation split (the one training
selected on), or on the data's own test split.

    python -m everything_on.evaluate --checkpoint RUN/best.pt [--split val|test]
    torchrun --nproc_per_node=4 -m everything_on.evaluate --checkpoint RUN/best.pt

RUN is a run's folder. Under torchrun each process evaluates a share of the split.

Prints the accuracy overall and per class, and writes per_class.csv and confusion_matrix.png next
to the checkpoint (or into --out).

Under torchrun each process evaluates its own share of the split, every sample exactly once, and
the first process prints and writes the results. --precision: autocast, as in training.
"""

import argparse
import csv
import sys
from pathlib import Path

import torch
import torch.distributed as dist

from . import Refused, checkpoint, data
from .model import SmallNet
from .train import BLUEPRINT, Run, evaluate, load_data, make_parser, positive_int


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = make_parser("evaluate", __doc__)
    parser.epilog = " ".join(__doc__.split("\n\n")[2:])  # what it does, after the usage
    add = parser.add_argument
    add("--checkpoint", type=Path, required=True, help="a checkpoint written by training")
    add("--ema", action="store_true", help="evaluate the moving average of the weights")
    add("--split", choices=["val", "test"], default="val")
    add("--data-root", help="data folder (default: the one the checkpoint trained on)")
    add("--dataset", choices=["auto", "synthetic"], default="auto", help="synthetic: built-in data")
    add("--device", choices=["auto", "cpu", "cuda"], default="auto")
    precision = "autocast (auto: bf16 on a GPU that has it, fp16 on an older GPU, fp32 on a CPU)"
    add("--precision", choices=["auto", "bf16", "fp16", "fp32"], default="auto", help=precision)
    add("--batch-size", type=positive_int, default=64, help="samples per batch and process")
    add("--workers", type=int, help="data loader processes (default: the checkpoint's)")
    add(
        "--image-size", type=positive_int, help="evaluate at this size (default: the training size)"
    )
    add("--out", type=Path, help="where to write the report (default: the checkpoint's folder)")
    add("--limit-batches", type=positive_int, help="at most this many batches per process")
    add("--skip-bad-images", action="store_true", help="skip undecodable images, counted")
    return parser.parse_args(argv)


def load_checkpoint(path: Path, device: torch.device, ema: bool = False) -> tuple[SmallNet, dict]:
    """The model of a checkpoint (`ema`: its moving average of the weights), and the checkpoint."""
    saved = checkpoint.load(path, BLUEPRINT)
    model = SmallNet(len(saved["classes"]))
    weights = saved["model"]
    if ema:  # AveragedModel's state: the model's, under "module.", and the number of updates
        weights = {
            key[len("module.") :]: value
            for key, value in saved["ema"].items()
            if key != "n_averaged"
        }
    checkpoint.load_weights(model, weights, path)
    return model.to(device).eval(), saved


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    run = Run(args.device, args.precision, compile=False, channels_last=False)
    model, saved = load_checkpoint(args.checkpoint, run.device, args.ema)
    config = saved["config"]
    datasets = load_data(args, config)
    dataset = datasets.test if args.split == "test" else datasets.val
    if dataset is None:
        raise Refused(f"--split test: the data has no test split ({datasets.description})")
    if datasets.classes != saved["classes"]:
        raise Refused(f"the data's classes are not the checkpoint's: {datasets.classes[:10]}")
    # this process's share, in order: samples rank, rank + world, ... (each sample once)
    sampler = data.SeededSampler(len(dataset), config["seed"], False, run.rank, run.world)
    workers = config["data"]["num_workers"]  # --workers, or the checkpoint's
    loader = data.make_loader(dataset, sampler, args.batch_size, workers, run.cuda)
    where = f"the {args.split} split of {datasets.description}"
    processes = f"{run.world} processes" if run.world > 1 else "one process"
    run.log(f"evaluating {args.checkpoint} on {where} ({processes}, {run.precision})")
    result = evaluate(model, loader, len(datasets.classes), run, args)  # totals of every process
    if run.rank > 0:
        return
    confusion = result["confusion"].cpu()
    print(f"accuracy: {result['acc']:.4f} ({int(confusion.trace())} of {result['count']})")
    print(f"top-5 accuracy: {result['top5']:.4f}")
    if result["skipped"]:
        print(f"skipped {result['skipped']} undecodable images")
    out = args.out or args.checkpoint.parent
    out.mkdir(parents=True, exist_ok=True)
    report_classes(confusion, datasets.classes, out, f"{BLUEPRINT}, {args.split} split")


def report_classes(confusion: torch.Tensor, classes: list[str], out: Path, title: str) -> None:
    """Per-class accuracy (printed, and per_class.csv) and confusion_matrix.png."""
    n, totals = len(classes), confusion.sum(1)
    per_class = confusion.diag() / totals.clamp(min=1)
    order = sorted(range(n), key=lambda i: (-per_class[i].item(), classes[i]))
    width = min(40, max(len(c) for c in classes))
    print(f"per class (best first):\n  {'class':{width}s}  accuracy  images")
    rows = [[classes[i], round(per_class[i].item(), 6), int(totals[i])] for i in order]
    for name, accuracy, images in rows:
        print(f"  {name[:width]:{width}s}  {accuracy:8.4f}  {images:6d}")
    with open(out / "per_class.csv", "w", newline="") as f:
        csv.writer(f).writerows([["class", "accuracy", "images"], *rows])

    from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global figures

    # rows normalised, classes sorted by accuracy: the weak ones gather at the bottom right
    matrix = confusion[order][:, order].float()
    matrix /= matrix.sum(1, keepdim=True).clamp(min=1)
    size = min(16, max(5, n * 0.3))
    fig = Figure(figsize=(size + 1.5, size), layout="tight")
    ax = fig.subplots()
    image = ax.imshow(matrix.numpy(), cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, label="fraction of the true class")
    names = [classes[i] for i in order] if n <= 30 else []  # names only while they stay readable
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set(xlabel="predicted class", ylabel="true class (best first)")
    ax.set_title(f"{title}: {n} classes, mean class accuracy {per_class.mean().item():.3f}")
    fig.savefig(out / "confusion_matrix.png", dpi=120)
    print(f"wrote {out / 'per_class.csv'} and {out / 'confusion_matrix.png'}")


if __name__ == "__main__":
    try:
        main()
    except Refused as refusal:  # what was asked cannot be done: one line, exit status 2
        print(f"python -m {__package__}.evaluate: error: {refusal}", file=sys.stderr)
        sys.exit(2)
    except data.DataError as error:  # raised while loading a batch
        sys.exit(f"data: {error}")
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
