"""Export a checkpoint of SmallNet for inference outside this project.

    python -m everything_on.export --checkpoint RUN/best.pt [--format onnx|torch_export]

onnx: an ONNX file (torch.onnx.export) for onnxruntime and other runtimes, with a dynamic batch
axis. torch_export: torch.export.export's program, saved with torch.export.save
(`torch.export.load(FILE).module()` runs it), its batch dynamic too. The file goes next to the
checkpoint (best.onnx) unless --out says otherwise. The model takes what training gives it: images
normalised by data.normalize, at the checkpoint's image size; it returns one score per class.
"""

import argparse
import sys
from pathlib import Path

import torch

from . import Refused, data
from .evaluate import load_checkpoint
from .train import make_parser

SUFFIXES = {"onnx": ".onnx", "torch_export": ".pt2"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = make_parser("export", __doc__)
    add = parser.add_argument
    add("--checkpoint", type=Path, required=True, help="a checkpoint written by training")
    add("--format", choices=list(SUFFIXES), default="onnx")
    add("--out", type=Path, help="the file to write (default: next to the checkpoint)")
    return parser.parse_args(argv)


def example_inputs(saved: dict, batch: int = 2) -> tuple[torch.Tensor, ...]:
    """Random inputs of the shapes the model takes, at the checkpoint's image size."""
    config = saved["config"]["data"]
    images = torch.randn(batch, data.CHANNELS, *config["image_size"])
    return (images,)


def to_onnx(model: torch.nn.Module, inputs: tuple, path: Path) -> None:
    """The model as ONNX, its batch axis free. (The TorchScript-based exporter:
    the newer one, dynamo=True, needs the onnxscript package.)"""
    names = ["image"]
    axes = {"image": {0: "batch"}, "scores": {0: "batch"}}
    torch.onnx.export(
        model,
        inputs,
        str(path),
        input_names=names,
        output_names=["scores"],
        dynamic_axes=axes,
        dynamo=False,
    )


def to_torch_export(model: torch.nn.Module, inputs: tuple, path: Path) -> None:
    """The model as a torch.export program, saved with torch.export.save."""
    batch = torch.export.Dim("batch", min=1)
    shapes = ({0: batch},)
    program = torch.export.export(model, inputs, dynamic_shapes=shapes)
    torch.export.save(program, str(path))


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    model, saved = load_checkpoint(args.checkpoint, torch.device("cpu"))
    out = args.out or args.checkpoint.with_suffix(SUFFIXES[args.format])
    inputs = example_inputs(saved)
    write = to_onnx if args.format == "onnx" else to_torch_export
    write(model, inputs, out)
    print(f"wrote {out} ({args.format})")


if __name__ == "__main__":
    try:
        main()
    except Refused as refusal:  # what was asked cannot be done: one line, exit status 2
        print(f"python -m {__package__}.export: error: {refusal}", file=sys.stderr)
        sys.exit(2)
