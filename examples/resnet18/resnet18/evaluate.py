"""Evaluate a checkpoint of ResNet on the validation data.

    python -m resnet18.evaluate --checkpoint runs/resnet18/best.pt [--data-root DIR]
Prints the accuracy overall and per class (with the class names), and writes
confusion_matrix.png (rows: true class, normalised; classes sorted by accuracy) and
per_class.csv next to the checkpoint (or into --out).
"""

import argparse
import csv
import sys
from pathlib import Path

import torch

from . import checkpoint, data
from .model import ResNet
from .train import BLUEPRINT, non_negative_int, pick_device, positive_int


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m resnet18.evaluate", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--checkpoint",
        type=Path,
        required=True,
        help="a checkpoint written by training",
    )
    parser.add_argument(
        "--data-root", help="data folder (default: the one the checkpoint trained on)"
    )
    parser.add_argument(
        "--dataset",
        choices=["auto", "synthetic"],
        default="auto",
        help="synthetic: the built-in synthetic data",
    )
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--batch-size", type=positive_int, default=64)
    parser.add_argument(
        "--workers",
        type=non_negative_int,
        help="data loader processes (default: the checkpoint's config)",
    )
    parser.add_argument(
        "--image-size",
        type=positive_int,
        help="evaluate at this size (default: the training size)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="where to write the plots (default: the checkpoint's folder)",
    )
    parser.add_argument(
        "--limit-batches", type=positive_int, help="evaluate at most this many batches"
    )
    parser.add_argument(
        "--skip-bad-images",
        action="store_true",
        help="skip undecodable images, counted",
    )
    return parser.parse_args(argv)


def load_checkpoint(path: Path, device: torch.device) -> tuple[ResNet, dict]:
    saved = checkpoint.load(path)
    if "model" not in saved or "model_args" not in saved:
        raise SystemExit(f"{path} is not a checkpoint written by resnet18.train")
    if saved.get("blueprint") != BLUEPRINT:
        print(
            f"note: {path} comes from the blueprint {saved.get('blueprint')!r}, not {BLUEPRINT!r}"
        )
    model = ResNet(**saved["model_args"])
    checkpoint.check_compatible(model, saved["model"], path)
    model.load_state_dict(saved["model"])
    return model.to(device).eval(), saved


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    device = pick_device(args.device)
    model, saved = load_checkpoint(args.checkpoint, device)
    config = saved["config"]
    image_size = tuple(config["data"]["image_size"])
    if args.image_size:
        image_size = (
            args.image_size,
            round(args.image_size * image_size[1] / image_size[0]),
        )
    if args.workers is not None:
        config["data"]["num_workers"] = args.workers
    root = (
        None
        if args.dataset == "synthetic"
        else (args.data_root or config["data"]["root"])
    )
    try:
        datasets = data.load_datasets(
            root, config["data"], image_size, seed=config["seed"]
        )
    except data.DataError as error:
        raise SystemExit(f"data: {error}") from None
    classes = saved["classes"]
    if datasets.classes != classes:
        differ = sorted(set(datasets.classes) ^ set(classes))
        raise SystemExit(
            f"the data's classes differ from the checkpoint's: {', '.join(differ[:10]) or 'same names, other order'}"
        )
    datasets.val.skip_bad = args.skip_bad_images
    _, eval_tf = data.build_transforms(image_size, datasets.source)
    sampler = data.SeededSampler(len(datasets.val), config["seed"], shuffle=False)
    loader = data.make_loader(
        datasets.val,
        sampler,
        args.batch_size,
        config["data"]["num_workers"],
        device.type == "cuda",
        drop_last=False,
    )
    print(f"evaluating {args.checkpoint} on {datasets.description}")

    predictions, batches, skipped = [], [], 0
    with (
        torch.no_grad(),
        torch.autocast(
            device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"
        ),
    ):
        for step, batch in enumerate(loader):
            if args.limit_batches is not None and step >= args.limit_batches:
                break
            skipped += batch["skipped"]
            if "label" not in batch:  # every sample was an undecodable image
                continue
            images = data.normalize(batch["image"].to(device, non_blocking=True))
            logits = model(images)
            predictions.append(logits.argmax(1).cpu())
            # not the pixels
            batches.append(
                {k: v for k, v in batch.items() if k not in ("image", "data")}
            )
    predicted = torch.cat(predictions)
    labels = torch.cat([b["label"] for b in batches])
    accuracy = (predicted == labels).float().mean().item()
    print(
        f"accuracy: {accuracy:.4f} ({int((predicted == labels).sum())} of {len(labels)})"
    )
    if skipped:
        print(f"skipped {skipped} undecodable images")
    out = args.out or args.checkpoint.parent
    out.mkdir(parents=True, exist_ok=True)
    report_classes(predicted, labels, classes, out)


def report_classes(
    predicted: torch.Tensor, labels: torch.Tensor, classes: list[str], out: Path
) -> None:
    """Per-class accuracy (printed and per_class.csv) and confusion_matrix.png."""
    n = len(classes)
    confusion = torch.zeros(n, n, dtype=torch.long)
    confusion.index_put_((labels, predicted), torch.ones_like(labels), accumulate=True)
    totals = confusion.sum(1)
    per_class = confusion.diag().float() / totals.clamp(min=1)
    order = sorted(range(n), key=lambda i: (-per_class[i].item(), classes[i]))
    width = min(40, max(len(c) for c in classes))
    print(f"per class (best first):\n  {'class':{width}s}  accuracy  images")
    for i in order:
        print(
            f"  {classes[i][:width]:{width}s}  {per_class[i].item():8.4f}  {int(totals[i]):6d}"
        )
    with open(out / "per_class.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["class", "accuracy", "images"])
        writer.writerows(
            [classes[i], round(per_class[i].item(), 6), int(totals[i])] for i in order
        )
    plot_confusion(confusion, per_class, classes, order, out / "confusion_matrix.png")
    print(f"wrote {out / 'per_class.csv'} and {out / 'confusion_matrix.png'}")


def plot_confusion(
    confusion: torch.Tensor,
    per_class: torch.Tensor,
    classes: list[str],
    order: list[int],
    path: Path,
) -> None:
    """Rows normalised to fractions, classes sorted by accuracy so the weak ones gather at the
    bottom right; class names only while they stay readable (up to 30)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matrix = confusion[order][:, order].float()
    matrix = matrix / matrix.sum(1, keepdim=True).clamp(min=1)
    n = len(classes)
    size = min(16, max(5, n * 0.3))
    fig, ax = plt.subplots(figsize=(size + 1.5, size))
    image = ax.imshow(
        matrix.numpy(), cmap="Blues", vmin=0, vmax=1, interpolation="nearest"
    )
    fig.colorbar(
        image, ax=ax, fraction=0.046, pad=0.04, label="fraction of the true class"
    )
    if n <= 30:
        names = [classes[i] for i in order]
        ax.set_xticks(range(n), names, rotation=90, fontsize=8)
        ax.set_yticks(range(n), names, fontsize=8)
    else:
        ax.set_xticks([])
        ax.set_yticks([])
    ax.set(
        xlabel="predicted class", ylabel="true class (sorted by accuracy, best first)"
    )
    ax.set_title(
        f"{BLUEPRINT}: confusion matrix, {n} classes, mean accuracy {per_class.mean().item():.3f}"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    try:
        main()
    except data.DataError as error:  # raised while loading a batch
        sys.exit(f"data: {error}")
