"""Predict with a trained SAN.
    python -m san_vgg_lstm.predict --checkpoint runs/san_vgg_lstm/best.pt --image photo.jpg --question "what colour is the car?"

Prints the top answers and saves the attention maps of every hop over the image as a PNG.
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
        prog="python -m san_vgg_lstm.predict", description=__doc__.split("\n\n")[0]
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
    parser.add_argument("--question", required=True, help="a question about the image")
    parser.add_argument(
        "--attention",
        type=Path,
        help="where to save the attention maps (default: IMAGE.attention.png)",
    )
    parser.add_argument("--top", type=int, default=5, help="how many answers to show")
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
        vocab = data.Vocabulary(saved["vocab"])
        question = torch.tensor(
            [
                vocab.encode(
                    args.question, saved["config"]["data"]["max_question_length"]
                )
            ],
            device=device,
        )
        logits, attention = model(x, question, return_attention=True)
    probabilities = logits.float().softmax(1)[0]
    top = probabilities.topk(min(args.top, len(classes)))
    print(f"Q: {args.question}")
    for probability, index in zip(top.values.tolist(), top.indices.tolist()):
        print(f"{probability:7.2%}  {classes[index]}")
    path = args.attention or args.image.with_suffix(".attention.png")
    save_attention(
        pixels,
        attention[0].float().cpu(),
        path,
        f"Q: {args.question}  A: {classes[top.indices[0]]}",
    )
    print(f"attention maps: {path}")


def save_attention(
    image: torch.Tensor, attention: torch.Tensor, path: Path, title: str
) -> None:
    """The image, then one panel per hop with that hop's attention over the regions laid over it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hops, regions = attention.shape
    _, h, w = image.shape
    side = round(regions**0.5)  # the regions form a grid of the feature map's shape
    rows, cols = (
        (side, regions // side) if side * (regions // side) == regions else (1, regions)
    )
    picture = image.permute(1, 2, 0).numpy()
    fig, axes = plt.subplots(1, hops + 1, figsize=(3.2 * (hops + 1), 3.4))
    axes[0].imshow(picture, cmap="gray" if picture.shape[2] == 1 else None)
    axes[0].set_title("image")
    for hop in range(hops):
        grid = attention[hop].reshape(1, 1, rows, cols)
        heat = torch.nn.functional.interpolate(
            grid, size=(h, w), mode="bilinear", align_corners=False
        )[0, 0]
        axes[hop + 1].imshow(picture, cmap="gray" if picture.shape[2] == 1 else None)
        axes[hop + 1].imshow(heat.numpy(), cmap="jet", alpha=0.5)
        axes[hop + 1].set_title(f"attention, hop {hop + 1}")
    for ax in axes:
        ax.axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    main()
