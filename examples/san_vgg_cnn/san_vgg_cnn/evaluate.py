"""Evaluate a checkpoint of SAN on the validation split (the one training
selected on), or on the data's own test split.

    python -m san_vgg_cnn.evaluate --checkpoint RUN/best.pt [--split val|test]
    torchrun --nproc_per_node=4 -m san_vgg_cnn.evaluate --checkpoint RUN/best.pt

RUN is a run's folder. Under torchrun each process evaluates a share of the split.

Prints the accuracy overall and per question type, and the VQA accuracy min(#humans who gave the
answer / 3, 1) when the data has ten answers per question.

Under torchrun each process evaluates its own share of the split, every sample exactly once, and
the first process prints the results. --precision: autocast, as in training.
"""

import argparse
import sys
from pathlib import Path

import torch
import torch.distributed as dist

from . import Refused, checkpoint, data
from .model import SAN
from .train import BLUEPRINT, Run, load_data, make_parser, model_inputs, positive_int


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = make_parser("evaluate", __doc__)
    parser.epilog = " ".join(__doc__.split("\n\n")[2:])  # what it does, after the usage
    add = parser.add_argument
    add("--checkpoint", type=Path, required=True, help="a checkpoint written by training")
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
    add("--limit-batches", type=positive_int, help="at most this many batches per process")
    add("--skip-bad-images", action="store_true", help="skip undecodable images, counted")
    return parser.parse_args(argv)


def load_checkpoint(path: Path, device: torch.device) -> tuple[SAN, dict]:
    """The trained model of a checkpoint, and the checkpoint."""
    saved = checkpoint.load(path, BLUEPRINT)
    model = SAN(len(saved["vocab"]), len(saved["classes"]))
    checkpoint.load_weights(model, saved["model"], path)
    return model.to(device).eval(), saved


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    run = Run(args.device, args.precision, compile=False, channels_last=False)
    model, saved = load_checkpoint(args.checkpoint, run.device)
    config = saved["config"]
    datasets = load_data(args, config, vocab=saved["vocab"], answers=saved["classes"])
    dataset = datasets.test if args.split == "test" else datasets.val
    if dataset is None:
        raise Refused(f"--split test: the data has no test split ({datasets.description})")
    # this process's share, in order: samples rank, rank + world, ... (each sample once)
    sampler = data.SeededSampler(len(dataset), config["seed"], False, run.rank, run.world)
    workers = config["data"]["num_workers"]  # --workers, or the checkpoint's
    loader = data.make_loader(dataset, sampler, args.batch_size, workers, run.cuda)
    where = f"the {args.split} split of {datasets.description}"
    processes = f"{run.world} processes" if run.world > 1 else "one process"
    run.log(f"evaluating {args.checkpoint} on {where} ({processes}, {run.precision})")
    predictions, batches, skipped = [], [], 0
    with torch.no_grad(), run.autocast():
        for step, batch in enumerate(loader):
            if step == args.limit_batches:
                break
            skipped += batch["skipped"]
            if "label" not in batch:  # every image of the batch was undecodable
                continue
            inputs, _ = model_inputs(batch, run)
            predictions.append(model(*inputs).argmax(1).cpu())
            batches.append({key: value for key, value in batch.items() if key != "image"})
    if run.world > 1:  # every process's share, to the first process
        shares = [None] * run.world if run.rank == 0 else None
        dist.gather_object((predictions, batches, skipped), shares)
        if run.rank > 0:
            return
        predictions = [p for share in shares for p in share[0]]
        batches = [b for share in shares for b in share[1]]
        skipped = sum(share[2] for share in shares)
    if not predictions:
        raise Refused(f"--split {args.split}: no sample was evaluated")
    predicted, labels = torch.cat(predictions), torch.cat([b["label"] for b in batches])
    correct = int((predicted == labels).sum())
    print(f"accuracy: {correct / len(labels):.4f} ({correct} of {len(labels)})")
    if skipped:
        print(f"skipped {skipped} undecodable images")
    types = [t for b in batches for t in b["answer_type"]]
    for name in sorted({t for t in types if t}):
        mask = torch.tensor([t == name for t in types])
        right = (predicted[mask] == labels[mask]).float().mean().item()
        print(f"  {name:8s} {right:.4f} ({int(mask.sum())} questions)")
    ids = torch.cat([b["answer_ids"] for b in batches])  # (N, 10): the humans' answers, -1: none
    if (ids >= 0).any():
        scores = torch.cat([b["answer_scores"] for b in batches])
        soft = (scores * (ids == predicted[:, None])).amax(dim=1)  # min(#humans / 3, 1)
        print(f"VQA accuracy (min(#humans who gave the answer / 3, 1)): {soft.mean().item():.4f}")


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
