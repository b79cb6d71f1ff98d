"""Predict with a trained SmallNet.

    python -m everything_on.predict --checkpoint RUN/best.pt --image photo.jpg
    python -m everything_on.predict --checkpoint RUN/best.pt photos/ "more/*.png"
        --output top.csv

One image prints its most likely classes. Several (files, quoted globs, folders searched for
image files, --image repeated; each file once) are predicted in batches (--batch-size) and written
as a table, a row per file: CSV (file, class_1, probability_1, class_2, ...) or JSON (--format, or
an --output ending in .json), into --output or onto the standard output. A file that cannot be
decoded is named on stderr, counted and left out; when none can be, the exit status is 2. Images go
through evaluation's transforms.
"""

import argparse
import csv
import glob
import io
import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NoReturn

import torch
from torchvision.datasets.folder import IMG_EXTENSIONS
from torchvision.io import read_file

from . import Refused, data
from .evaluate import load_checkpoint
from .train import Run, make_parser, positive_int


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = make_parser("predict", __doc__)
    parser.epilog = " ".join(__doc__.split("\n\n")[2:])  # what it does, after the usage
    add = parser.add_argument
    add("--checkpoint", type=Path, required=True, help="a checkpoint written by training")
    add("inputs", nargs="*", metavar="IMAGES", help="image files, quoted globs or folders")
    add("--image", action="append", default=[], help="an image file (repeatable)")
    add("--top", type=positive_int, default=5, help="how many classes to show")
    add("--batch-size", type=positive_int, default=32, help="images per batch")
    add("--output", type=Path, help="write the table into this file (default: standard output)")
    add(
        "--format", choices=["csv", "json"], help="the table's (default: --output's suffix, or csv)"
    )
    add("--device", choices=["auto", "cpu", "cuda"], default="auto")
    args = parser.parse_args(argv)
    if not args.inputs and not args.image:
        parser.error("give the images: files, quoted globs or folders, or --image FILE")
    args.files = find_images([*args.image, *args.inputs], parser)
    args.table = len(args.files) > 1 or args.output is not None or args.format is not None
    return args


def find_images(names: list[str], parser: argparse.ArgumentParser) -> list[Path]:
    """The files that image arguments name: files, globs, and the image files of folders (found
    as training finds them, by their extension), in order, each once."""
    found = {}
    for name in names:
        path = Path(name).expanduser()
        if path.is_file():
            matches = [path]
        elif path.is_dir():
            matches = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMG_EXTENSIONS)
            if not matches:
                parser.error(f"{name}: no image files in the folder ({' '.join(IMG_EXTENSIONS)})")
        elif glob.has_magic(name):
            matches = sorted(Path(p) for p in glob.glob(str(path), recursive=True))
            matches = [p for p in matches if p.is_file()]
            if not matches:
                parser.error(f"{name}: no file matches")
        else:
            parser.error(f"{name}: no such file or folder")
        found |= dict.fromkeys(p for p in matches if p.is_file())
    return list(found)


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

    rows = []
    for paths, pixels in in_batches(args.files, load, args.batch_size, skip=args.table):
        best = model(data.normalize(pixels.to(device))).float().softmax(1).topk(top)
        for path, values, indices in zip(paths, best.values.tolist(), best.indices.tolist()):
            rows.append(([str(path)], [(classes[i], p) for p, i in zip(values, indices)]))
    if not args.table:  # one image
        for name, probability in rows[0][1]:
            print(f"{probability:7.2%}  {name}")
        return
    if not rows:
        fail(f"none of the {len(args.files)} images could be decoded")
    write_table(rows, ["file"], "class", args)
    skipped = len(args.files) - len(rows)
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


if __name__ == "__main__":
    try:
        main()
    except Refused as refusal:  # what was asked cannot be done: one line, exit status 2
        print(f"python -m {__package__}.predict: error: {refusal}", file=sys.stderr)
        sys.exit(2)
