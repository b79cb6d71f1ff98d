"""Predict with a trained SAN.

    python -m san_vgg_lstm.predict --checkpoint runs/san_vgg_lstm/best.pt --image photo.jpg
        --question "what colour is the car?"

Prints the top answers and saves the attention map of every hop as a PNG. The image goes through
evaluation's transforms.
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
    add("--question", required=True, help="a question about the image")
    add(
        "--attention",
        type=Path,
        help="where to save the attention maps (default: IMAGE.attention.png)",
    )
    add("--top", type=int, default=5, help="how many answers to show")
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
    config = saved["config"]["data"]
    _, transform = data.build_transforms(tuple(config["image_size"]))
    pixels = transform(image)
    images = data.normalize(pixels.unsqueeze(0).to(device))
    classes = saved["classes"]
    words = data.Vocabulary(saved["vocab"]).encode(args.question, config["max_question_length"])
    # the attention's regions are this module's output grid, at any image size
    grids = []
    hook = model.get_submodule("features.30").register_forward_hook(
        lambda module, inputs, output: grids.append(tuple(output.shape[-2:]))
    )
    logits, attention = model(images, torch.tensor([words], device=device), return_attention=True)
    hook.remove()
    probabilities = logits.float().softmax(1)[0]
    top = probabilities.topk(min(args.top, len(classes)))
    print(f"Q: {args.question}")
    for probability, index in zip(top.values.tolist(), top.indices.tolist()):
        print(f"{probability:7.2%}  {classes[index]}")
    path = args.attention or args.image.with_suffix(".attention.png")
    maps = attention[0].float().cpu().reshape(-1, *grids[0])  # (hops, rows, columns)
    save_attention(pixels, maps, path, f"Q: {args.question}  A: {classes[top.indices[0]]}")
    print(f"attention maps: {path}")


def save_attention(image: torch.Tensor, maps: torch.Tensor, path: Path, title: str) -> None:
    """The image, then one panel per hop with that hop's attention over the regions laid over it."""
    from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global figures

    picture = image.permute(1, 2, 0).numpy()
    grey = "gray" if picture.shape[2] == 1 else None
    heat = torch.nn.functional.interpolate(maps[:, None], size=picture.shape[:2], mode="bilinear")[
        :, 0
    ]
    fig = Figure(figsize=(3.2 * (len(maps) + 1), 3.4), layout="tight")
    axes = fig.subplots(1, len(maps) + 1)
    axes[0].imshow(picture, cmap=grey)
    axes[0].set_title("image")
    for hop, ax in enumerate(axes[1:]):
        ax.imshow(picture, cmap=grey)
        ax.imshow(heat[hop].numpy(), cmap="jet", alpha=0.5)
        ax.set_title(f"attention, hop {hop + 1}")
    for ax in axes:
        ax.axis("off")
    fig.suptitle(title)
    fig.savefig(path, dpi=100)


if __name__ == "__main__":
    main()
