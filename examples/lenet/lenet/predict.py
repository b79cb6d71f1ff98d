"""Predict with a trained LeNet.

    python -m lenet.predict --checkpoint runs/lenet/best.pt --image photo.jpg

Prints the most likely classes. The image goes through evaluation's transforms.
"""

import argparse
from pathlib import Path

import torch
from torchvision.io import read_file

from . import data
from .evaluate import load_checkpoint
from .train import Run, make_parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = make_parser("predict", __doc__)
    add = parser.add_argument
    add("--checkpoint", type=Path, required=True, help="a checkpoint written by training")
    add("--image", type=Path, required=True, help="an image file (JPEG, PNG, ...)")
    add("--top", type=int, default=5, help="how many classes to show")
    add("--device", choices=["auto", "cpu", "cuda"], default="auto")
    return parser.parse_args(argv)


@torch.no_grad()
def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    device = Run(args.device).device
    model, saved = load_checkpoint(args.checkpoint, device)
    if not args.image.is_file():
        raise SystemExit(f"--image {args.image}: no such file")
    try:
        image = data.decode(read_file(str(args.image)), str(args.image))
    except data.DataError as error:
        raise SystemExit(str(error)) from None
    _, transform = data.build_transforms()
    pixels = transform(data.fit(image, *data.SOURCE_SIZE))
    images = data.normalize(pixels.unsqueeze(0).to(device))
    classes = saved["classes"]
    probabilities = model(images).float().softmax(1)[0]
    top = probabilities.topk(min(args.top, len(classes)))
    for probability, index in zip(top.values.tolist(), top.indices.tolist()):
        print(f"{probability:7.2%}  {classes[index]}")


if __name__ == "__main__":
    main()
