"""Predict with a trained Net.
    python -m cifar_net.predict --checkpoint runs/cifar_net/best.pt --image photo.jpg

Prints the most likely classes with their probabilities.
"""

import argparse
from pathlib import Path

import torch
from torchvision.io import read_file
from torchvision.transforms import v2

from . import data
from .evaluate import load_checkpoint
from .train import pick_device


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m cifar_net.predict", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--checkpoint",
        type=Path,
        required=True,
        help="a checkpoint written by training",
    )
    parser.add_argument(
        "--image", type=Path, required=True, help="an image file (JPEG, PNG, ...)"
    )
    parser.add_argument("--top", type=int, default=5, help="how many classes to show")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    device = pick_device(args.device)
    model, saved = load_checkpoint(args.checkpoint, device)
    if not args.image.is_file():
        raise SystemExit(f"--image {args.image}: no such file")
    try:
        image = data.decode(read_file(str(args.image)), str(args.image))
    except data.DataError as error:
        raise SystemExit(str(error)) from None
    image_size = tuple(saved["config"]["data"]["image_size"])
    source = saved.get("data_source", "folder")
    if source in (
        "folder",
        "cub",
        "vqa",
    ):  # photos: the evaluation transform of training
        _, eval_tf = data.build_transforms(image_size, source)
    else:  # trained on whole small images: scale the whole image to the training size
        eval_tf = v2.Resize(image_size, antialias=True)
    pixels = eval_tf(image)
    x = data.normalize(pixels.unsqueeze(0).to(device))
    classes = saved["classes"]
    with torch.no_grad():
        logits = model(x)
    probabilities = logits.float().softmax(1)[0]
    top = probabilities.topk(min(args.top, len(classes)))
    for probability, index in zip(top.values.tolist(), top.indices.tolist()):
        print(f"{probability:7.2%}  {classes[index]}")


if __name__ == "__main__":
    main()
