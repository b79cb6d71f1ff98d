"""Evaluate a checkpoint of SAN on the validation data.

    python -m san_vgg_lstm.evaluate --checkpoint runs/san_vgg_lstm/best.pt [--data-root DIR]
Prints the accuracy overall and per question type (yes/no, number, other, when the data says),
and the VQA accuracy min(#humans who gave the answer / 3, 1) when the data has ten answers per
question. The vocabulary and answer list come from the checkpoint, as in training.
"""

import argparse
import sys
from pathlib import Path

import torch

from . import checkpoint, data
from .model import SAN
from .train import BLUEPRINT, non_negative_int, pick_device, positive_int


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m san_vgg_lstm.evaluate", description=__doc__.split("\n\n")[0]
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


def load_checkpoint(path: Path, device: torch.device) -> tuple[SAN, dict]:
    saved = checkpoint.load(path)
    if "model" not in saved or "model_args" not in saved:
        raise SystemExit(f"{path} is not a checkpoint written by san_vgg_lstm.train")
    if saved.get("blueprint") != BLUEPRINT:
        print(
            f"note: {path} comes from the blueprint {saved.get('blueprint')!r}, not {BLUEPRINT!r}"
        )
    model = SAN(**saved["model_args"])
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
            root,
            config["data"],
            image_size,
            seed=config["seed"],
            vocab=saved["vocab"],
            answers=saved["classes"],
        )
    except data.DataError as error:
        raise SystemExit(f"data: {error}") from None
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
            logits = model(images, batch["question"].to(device, non_blocking=True))
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
    report_vqa(predicted, labels, batches)


def report_vqa(
    predicted: torch.Tensor, labels: torch.Tensor, batches: list[dict]
) -> None:
    """Accuracy per question type, and the VQA accuracy when ten human answers are known."""
    types = [t for b in batches for t in b["answer_type"]]
    for name in sorted({t for t in types if t}):
        mask = torch.tensor([t == name for t in types])
        correct = (predicted[mask] == labels[mask]).float().mean().item()
        print(f"  {name:8s} {correct:.4f} ({int(mask.sum())} questions)")
    # (N, 10): the humans' answers, -1 if none or rare
    ids = torch.cat([b["answer_ids"] for b in batches])
    scores = torch.cat([b["answer_scores"] for b in batches])
    if (ids >= 0).any():
        # min(#humans / 3, 1) of the prediction
        soft = (scores * (ids == predicted[:, None])).amax(dim=1)
        print(
            f"VQA accuracy (min(#humans who gave the answer / 3, 1)): {soft.mean().item():.4f}"
        )


if __name__ == "__main__":
    try:
        main()
    except data.DataError as error:  # raised while loading a batch
        sys.exit(f"data: {error}")
