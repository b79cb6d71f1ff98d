"""Predict with a trained SAN.

    python -m san_vgg_lstm.predict --checkpoint RUN/best.pt --image photo.jpg
        --question "what colour is the car?"
    python -m san_vgg_lstm.predict --checkpoint RUN/best.pt --questions q.jsonl
        --output answers.csv

One image and question prints the top answers and saves the attention map of every hop as a PNG
(--attention). Several pairs (--image and --question repeated, the first question about the first
image and so on, or --questions: JSON lines of {"image": FILE, "question": TEXT}, the paths relative
to that file's folder) are predicted in batches (--batch-size) and written as a table, a row per
pair: CSV (image, question, answer_1, probability_1, answer_2, ...) or JSON (--format, or an
--output ending in .json), into --output or onto the standard output. An image that cannot be
decoded is named on stderr, counted and left out; when none can be, the exit status is 2. Images go
through evaluation's transforms.
"""

import argparse
import csv
import io
import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NoReturn

import torch
from torchvision.io import read_file

from . import Refused, data
from .evaluate import load_checkpoint
from .train import Run, make_parser, positive_int


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = make_parser("predict", __doc__)
    parser.epilog = " ".join(__doc__.split("\n\n")[2:])  # what it does, after the usage
    add = parser.add_argument
    add("--checkpoint", type=Path, required=True, help="a checkpoint written by training")
    add("--image", type=Path, action="append", default=[], help="an image file (repeatable)")
    add("--question", action="append", default=[], help="a question about the image of its place")
    add("--questions", type=Path, help='JSON lines: {"image": FILE, "question": TEXT} per line')
    add(
        "--attention",
        type=Path,
        help="where to save the attention maps of one image (default: IMAGE.attention.png)",
    )
    add("--top", type=positive_int, default=5, help="how many answers to show")
    add("--batch-size", type=positive_int, default=32, help="images per batch")
    add("--output", type=Path, help="write the table into this file (default: standard output)")
    add(
        "--format", choices=["csv", "json"], help="the table's (default: --output's suffix, or csv)"
    )
    add("--device", choices=["auto", "cpu", "cuda"], default="auto")
    args = parser.parse_args(argv)
    if len(args.image) != len(args.question):
        parser.error(f"{len(args.image)} --image and {len(args.question)} --question: give a pair")
    args.pairs = list(zip(args.image, args.question))
    if args.questions is not None:
        args.pairs += read_questions(args.questions, parser)
    if not args.pairs:
        parser.error("give --image and --question, or --questions FILE")
    for image, _ in args.pairs:
        if not image.is_file():
            parser.error(f"--image {image}: no such file")
    args.table = len(args.pairs) > 1 or args.output is not None or args.format is not None
    if args.table and args.attention is not None:
        parser.error("--attention: the maps are saved for one image and question only")
    return args


def read_questions(path: Path, parser: argparse.ArgumentParser) -> list[tuple[Path, str]]:
    """The (image, question) pairs of a JSON lines file, image paths relative to its folder."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        parser.error(f"--questions {path}: {error.strerror}")
    pairs = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            parser.error(f"{path}:{number}: not valid JSON: {error.msg}")
        if not isinstance(record, dict) or not {"image", "question"} <= record.keys():
            parser.error(f"{path}:{number}: expected an object with image and question")
        image = Path(str(record["image"])).expanduser()
        image = image if image.is_absolute() else path.parent / image
        if not image.is_file():
            parser.error(f"{path}:{number}: {image}: no such file")
        pairs.append((image, str(record["question"])))
    if not pairs:
        parser.error(f"--questions {path}: no questions")
    return pairs


def fail(message: str) -> NoReturn:
    """Stop with `message` on stderr and exit status 2, as a bad flag does."""
    print(f"python -m {__package__}.predict: error: {message}", file=sys.stderr)
    raise SystemExit(2)


@torch.no_grad()
def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    device = Run(args.device).device
    model, saved = load_checkpoint(args.checkpoint, device)
    config = saved["config"]["data"]
    _, transform = data.build_transforms(tuple(config["image_size"]))
    classes, top = saved["classes"], min(args.top, len(saved["classes"]))

    def load(path: Path) -> torch.Tensor | data.DataError:
        """An image file through evaluation's transforms; what is wrong, if it cannot be read."""
        try:
            image = data.decode(read_file(str(path)), str(path))
        except RuntimeError as error:  # unreadable: no permission, a special file
            return data.DataError(f"cannot read image {path}: {error}")
        except data.DataError as error:
            return error
        return transform(image)

    vocab, length = data.Vocabulary(saved["vocab"]), config["max_question_length"]
    if not args.table:  # one image and question: the answers, and the attention maps
        [(path, question)] = args.pairs
        pixels = load(path)
        if isinstance(pixels, data.DataError):
            fail(str(pixels))
        words = torch.tensor([vocab.encode(question, length)], device=device)
        attention = args.attention or path.with_suffix(".attention.png")
        show_answers(model, pixels, words, f"Q: {question}", classes, top, attention)
        return
    rows = []
    for pairs, pixels in in_batches(args.pairs, lambda pair: load(pair[0]), args.batch_size):
        words = [torch.tensor(vocab.encode(question, length)) for _, question in pairs]
        questions = torch.nn.utils.rnn.pad_sequence(words, batch_first=True)  # 0 pads
        logits = model(data.normalize(pixels.to(device)), questions.to(device))
        best = logits.float().softmax(1).topk(top)
        for (image, question), values, indices in zip(
            pairs, best.values.tolist(), best.indices.tolist()
        ):
            rows.append(
                ([str(image), question], [(classes[i], p) for p, i in zip(values, indices)])
            )
    if not rows:
        fail(f"none of the {len(args.pairs)} images could be decoded")
    write_table(rows, ["image", "question"], "answer", args)
    skipped = len(args.pairs) - len(rows)
    if skipped:
        print(f"skipped {skipped} images that could not be decoded", file=sys.stderr)


def in_batches(items: list, load, size: int, skip: bool = True):
    """`items` in batches of `size`, with their images (`load(item)`) decoded on several threads at
    once and stacked. An image that cannot be decoded is named on stderr and its item left out
    (`skip`), or stops the run."""
    with ThreadPoolExecutor(min(size, os.cpu_count() or 1)) as pool:
        for start in range(0, len(items), size):
            batch = items[start : start + size]
            images = list(pool.map(load, batch))
            problems = [image for image in images if isinstance(image, data.DataError)]
            if problems and not skip:
                fail(str(problems[0]))
            for problem in problems:
                print(f"skipped: {problem}", file=sys.stderr)
            kept = [(item, image) for item, image in zip(batch, images) if torch.is_tensor(image)]
            if kept:
                yield [item for item, _ in kept], torch.stack([image for _, image in kept])


def write_table(rows: list[tuple], columns: list[str], kind: str, args: argparse.Namespace) -> None:
    """Rows of (values of `columns`, top (name, probability) pairs) as CSV or JSON: into --output
    (written whole or not at all), or onto the standard output."""
    suffix = args.output.suffix.lower() if args.output else ""
    if (args.format or ("json" if suffix == ".json" else "csv")) == "json":
        records = [
            dict(zip(columns, values))
            | {"top": [{kind: name, "probability": round(p, 6)} for name, p in top]}
            for values, top in rows
        ]
        text = json.dumps(records, indent=2, ensure_ascii=False) + "\n"
    else:
        ranks = range(1, len(rows[0][1]) + 1)  # every row has the same number: --top, or all
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(
            [*columns, *(f"{name}_{i}" for i in ranks for name in (kind, "probability"))]
        )
        for values, top in rows:
            writer.writerow([*values, *(value for name, p in top for value in (name, f"{p:.6f}"))])
        text = buffer.getvalue()
    if args.output is None:
        sys.stdout.write(text)
        return
    args.output.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.output.with_name(f".{args.output.name}.tmp{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, args.output)
    print(f"wrote {len(rows)} predictions to {args.output}")


def show_answers(
    model, pixels, words, title: str, classes: list[str], top: int, path: Path
) -> None:
    """Print the top answers to a question (`words`) about an image (`pixels`), and save the
    attention maps as `path`."""
    device = words.device
    images = data.normalize(pixels.unsqueeze(0).to(device))
    # the attention's regions are this module's output grid, at any image size
    grids = []
    hook = model.get_submodule("features.30").register_forward_hook(
        lambda module, inputs, output: grids.append(tuple(output.shape[-2:]))
    )
    logits, attention = model(images, words, return_attention=True)
    hook.remove()
    best = logits.float().softmax(1)[0].topk(top)
    print(title)
    for probability, index in zip(best.values.tolist(), best.indices.tolist()):
        print(f"{probability:7.2%}  {classes[index]}")
    maps = attention[0].float().cpu().reshape(-1, *grids[0])  # (hops, rows, columns)
    save_attention(pixels, maps, path, f"{title}  A: {classes[best.indices[0]]}")
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
    try:
        main()
    except Refused as refusal:  # what was asked cannot be done: one line, exit status 2
        print(f"python -m {__package__}.predict: error: {refusal}", file=sys.stderr)
        sys.exit(2)
