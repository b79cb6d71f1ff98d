"""Data for san_vgg_lstm: images with questions and answers, and the loaders that feed training.

Every data set yields uint8 images (C x H x W). Geometric transforms run in the loader workers;
conversion to float and normalisation run on the training device (`normalize`), where they cost
least. With `--decode gpu`, JPEG files reach the device as bytes and are decoded there in
batches, then go through the same transforms. Random augmentation is seeded per sample from
(seed, epoch, index), so a run sees the same images with any number of workers, and resumes
exactly even in the middle of an epoch.
"""

import json
import re
from collections import Counter
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset, Sampler
from torchvision.io import ImageReadMode, decode_image, decode_jpeg, read_file
from torchvision.transforms import v2

from .synthetic import SyntheticVQA

IMAGE_SIZE = (448, 448)  # height, width the model was designed for
CHANNELS = 3
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff")


class DataError(Exception):
    """A problem with the data that the user can fix; training stops with this message."""

    def __str__(self) -> str:
        # Raised in a loader worker, it arrives wrapped with the worker's traceback: keep the
        # message alone (the traceback's last line).
        text = super().__str__().strip()
        if "Traceback" in text:
            text = text.splitlines()[-1].split("DataError: ", 1)[-1]
        return text


# --- transforms -------------------------------------------------------------------------------


def build_transforms(
    image_size: tuple[int, int] = IMAGE_SIZE, source: str = "vqa"
) -> tuple[v2.Transform, v2.Transform]:
    """Training and evaluation transforms of uint8 image tensors for data from `source`.

    The blueprint's transforms are for vqa data; their sizes scale with `image_size`.
    """
    size = tuple(image_size)

    if source == "synthetic":  # drawn at the right size already
        # no flips: questions may be about left and right
        return (v2.Identity(), v2.Identity())
    train = v2.Compose(
        [
            v2.Resize(size[0], antialias=True),
            v2.CenterCrop(size),
        ]
    )
    evaluation = v2.Compose(
        [
            v2.Resize(size[0], antialias=True),
            v2.CenterCrop(size),
        ]
    )
    return train, evaluation


def normalize(images: torch.Tensor) -> torch.Tensor:
    """uint8 images (N, C, H, W) on any device -> normalised float32."""
    images = images.float().div_(255)
    mean = torch.tensor(MEAN, device=images.device).view(1, -1, 1, 1)
    std = torch.tensor(STD, device=images.device).view(1, -1, 1, 1)
    return images.sub_(mean).div_(std)


def seeded(transform: v2.Transform, image: torch.Tensor, seed: int) -> torch.Tensor:
    """Apply `transform` with its random choices drawn from `seed`, leaving the global RNG alone."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return transform(image)


def to_channels(image: torch.Tensor) -> torch.Tensor:
    """A uint8 image with CHANNELS channels (grey images repeated, colour images made grey)."""
    if image.shape[0] == CHANNELS:
        return image
    if CHANNELS == 1:
        return v2.functional.rgb_to_grayscale(image[:3])
    return image[:1].expand(CHANNELS, -1, -1).clone()


def decode(data: torch.Tensor, path: str) -> torch.Tensor:
    mode = ImageReadMode.GRAY if CHANNELS == 1 else ImageReadMode.RGB
    try:
        return to_channels(decode_image(data, mode=mode))
    except RuntimeError as error:
        raise DataError(f"cannot decode image {path}: {error}") from None


def is_jpeg(data: torch.Tensor) -> bool:
    return data.numel() > 2 and int(data[0]) == 0xFF and int(data[1]) == 0xD8


# --- sampling ---------------------------------------------------------------------------------


class SeededSampler(Sampler):
    """This process's share of the data in a seeded order, each index with its own augmentation seed.

    Training (`shuffle=True`): a new order every epoch, cut so that every DDP rank takes the same
    number of steps. Evaluation: every sample exactly once over all ranks, no padding.
    `set_epoch(epoch, start)` skips the `start` samples this rank has already seen.
    """

    def __init__(
        self, size: int, seed: int, shuffle: bool, rank: int = 0, world_size: int = 1
    ) -> None:
        self.size, self.seed, self.shuffle = size, seed, shuffle
        self.rank, self.world_size = rank, world_size
        self.epoch = self.start = 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        self.epoch, self.start = epoch, start

    def indices(self) -> list[int]:
        if self.shuffle:
            generator = torch.Generator().manual_seed(
                self.seed * 1_000_003 + self.epoch
            )
            order = torch.randperm(self.size, generator=generator).tolist()
            per_rank = self.size // self.world_size
            return order[self.rank :: self.world_size][:per_rank]
        return list(range(self.rank, self.size, self.world_size))

    def __iter__(self):
        base = (self.seed * 1_000_003 + self.epoch) * 1_000_000_007
        for index in self.indices()[self.start :]:
            yield index, (base + index) % 2**63

    def __len__(self) -> int:
        return max(0, len(self.indices()) - self.start)


def collate(items: list[dict | None]) -> dict:
    """Stack tensors, pad questions with 0; keep lists of what cannot be stacked (JPEG
    bytes, boxes, strings). Samples skipped as undecodable (None) are counted in "skipped".
    """
    kept = [item for item in items if item is not None]
    batch = {"skipped": len(items) - len(kept)}
    items = kept
    for key in items[0] if items else []:
        values = [item[key] for item in items]
        if key == "question":
            batch[key] = torch.nn.utils.rnn.pad_sequence(
                values, batch_first=True, padding_value=0
            )
            continue
        if isinstance(values[0], torch.Tensor) and all(
            v.shape == values[0].shape for v in values
        ):
            batch[key] = torch.stack(values)
        elif isinstance(values[0], (int, float)) and not isinstance(values[0], bool):
            batch[key] = torch.tensor(values)
        else:
            batch[key] = values
    return batch


def make_loader(
    dataset: Dataset,
    sampler: SeededSampler,
    batch_size: int,
    num_workers: int,
    pin_memory: bool,
    drop_last: bool,
) -> DataLoader:
    # more would only compete for cores
    num_workers = min(num_workers, os.cpu_count() or 1)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        collate_fn=collate,
        pin_memory=pin_memory,
        drop_last=drop_last,
        persistent_workers=num_workers > 0,
        prefetch_factor=4 if num_workers > 0 else None,
    )


def decode_on_device(
    batch: dict, transform: v2.Transform, device: torch.device, skip_bad: bool = False
) -> torch.Tensor:
    """The GPU input path: decode a batch of JPEG files on `device` (nvJPEG on a GPU) and apply
    the same transforms as the workers would, with the same per-sample seeds. With `skip_bad`,
    undecodable files are left out (and their labels dropped from `batch`)."""
    mode = ImageReadMode.GRAY if CHANNELS == 1 else ImageReadMode.RGB
    datas = batch["data"]
    # bytes; others arrive decoded
    jpegs = [i for i, d in enumerate(datas) if d.dim() == 1]
    images = [d.to(device, non_blocking=True) for d in datas]
    try:
        decoded = (
            decode_jpeg([datas[i] for i in jpegs], mode=mode, device=device)
            if jpegs
            else []
        )
    except RuntimeError:  # one bad file fails the batch: find it
        decoded = []
        for i in jpegs:
            try:
                decoded.append(decode_jpeg(datas[i], mode=mode, device=device))
            except RuntimeError as error:
                if not skip_bad:
                    raise DataError(
                        f"cannot decode image {batch['path'][i]}: {error}"
                    ) from None
                decoded.append(None)
    for i, image in zip(jpegs, decoded):
        images[i] = image
    keep = [i for i, image in enumerate(images) if image is not None]
    if len(keep) < len(images):
        batch["skipped"] = batch.get("skipped", 0) + len(images) - len(keep)
        batch["label"] = batch["label"][keep]
    out = []
    seeds, boxes = batch["seed"].tolist(), batch["box"]
    for image, seed, box in ((images[i], seeds[i], boxes[i]) for i in keep):
        image = to_channels(image)
        if box is not None:
            image = crop_box(image, box)
        out.append(seeded(transform, image, seed))
    return torch.stack(out)


def crop_box(
    image: torch.Tensor, box: tuple[float, float, float, float]
) -> torch.Tensor:
    x, y, w, h = box
    top, left = max(0, int(y)), max(0, int(x))
    return image[:, top : max(top + 1, int(y + h)), left : max(left + 1, int(x + w))]


class ImageFiles(Dataset):
    """Image files with labels. Decoded here, in the loader workers; with `decode="gpu"`, JPEG
    files are handed over as raw bytes and decoded on the GPU (`decode_on_device`)."""

    skip_bad = False  # True: an undecodable file is skipped (and counted), not an error

    def __init__(
        self,
        samples: list[tuple[str, int]],
        transform: v2.Transform,
        decode: str = "cpu",
        boxes: list | None = None,
    ) -> None:
        self.samples, self.transform, self.decode = samples, transform, decode
        self.boxes = boxes

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, key: tuple[int, int]) -> dict | None:
        index, seed = key
        path, label = self.samples[index]
        box = self.boxes[index] if self.boxes else None
        try:
            return {
                **image_item(path, seed, self.transform, self.decode, box),
                "label": label,
            }
        except DataError as error:
            if not self.skip_bad:
                raise
            print(f"skipped: {error}", file=sys.stderr)
            return None


def image_item(
    path: str, seed: int, transform: v2.Transform, decode_on: str, box=None
) -> dict:
    """An image file as a sample: transformed pixels, or (decode_on="gpu") what the GPU needs to
    decode and transform it in a batch."""
    data = read_file(path)
    if decode_on == "gpu":
        if not is_jpeg(data):
            # PNG and friends: decoded here, transformed there
            data = decode(data, path)
        return {"data": data, "seed": seed, "box": box, "path": path}
    image = decode(data, path)
    if box is not None:
        image = crop_box(image, box)
    return {"image": seeded(transform, image, seed)}


def split(samples: list, fraction: float, seed: int) -> tuple[list, list]:
    """A reproducible random split: the last `fraction` of a seeded shuffle is validation."""
    order = torch.randperm(
        len(samples), generator=torch.Generator().manual_seed(seed)
    ).tolist()
    cut = len(samples) - max(1, round(len(samples) * fraction))
    if cut < 1:
        raise DataError(
            f"cannot split {len(samples)} samples into training and validation"
        )
    return [samples[i] for i in order[:cut]], [samples[i] for i in order[cut:]]


# --- questions and answers --------------------------------------------------------------------

PAD, UNKNOWN = "<pad>", "<unk>"
WORD = re.compile(r"[a-z0-9]+")


def tokenize(text: str) -> list[str]:
    return WORD.findall(text.lower())


def normalize_answer(answer: str) -> str:
    return " ".join(answer.lower().strip().rstrip(".").split())


class Vocabulary:
    """Question words to ids: 0 pads, 1 stands for every word unseen in training (or too rare)."""

    def __init__(self, words: list[str]) -> None:
        self.words = list(words)
        self.ids = {word: i for i, word in enumerate(self.words)}

    @classmethod
    def build(cls, questions, min_count: int) -> "Vocabulary":
        counts = Counter(word for question in questions for word in tokenize(question))
        kept = sorted(
            (w for w, c in counts.items() if c >= min_count),
            key=lambda w: (-counts[w], w),
        )
        return cls([PAD, UNKNOWN, *kept])

    def encode(self, question: str, max_length: int) -> list[int]:
        ids = [self.ids.get(word, 1) for word in tokenize(question)][:max_length]
        return ids or [1]  # an empty question reads as one unknown word

    def __len__(self) -> int:
        return len(self.words)


def top_answers(answers, n: int) -> list[str]:
    """The n most frequent answers (ties alphabetical): these are the classes."""
    counts = Counter(answers)
    return [
        answer
        for answer, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))[
            :n
        ]
    ]


@dataclass
class Question:
    image: str | int  # an image file, or the index of a synthetic image
    question: str
    answer: str
    answer_type: str = ""  # yes/no, number or other, when the data says
    answers: tuple[str, ...] = ()  # the ten human answers, when the data has them


class Questions(Dataset):
    """Images with a question each: the image (transformed, or JPEG bytes for the GPU), the question
    as word ids, and the answer's class (-1 when it is not among the top answers)."""

    def __init__(
        self,
        questions: list[Question],
        vocab: Vocabulary,
        answers: list[str],
        max_length: int,
        transform: v2.Transform,
        decode: str = "cpu",
        synthetic: SyntheticVQA | None = None,
    ) -> None:
        self.questions, self.vocab, self.max_length = questions, vocab, max_length
        self.transform, self.decode, self.synthetic = transform, decode, synthetic
        self.answer_ids = {answer: i for i, answer in enumerate(answers)}

    def __len__(self) -> int:
        return len(self.questions)

    skip_bad = (
        False  # True: an undecodable image is skipped (and counted), not an error
    )

    def __getitem__(self, key: tuple[int, int]) -> dict | None:
        index, seed = key
        q = self.questions[index]
        if self.synthetic is not None:
            item = {
                "image": seeded(
                    self.transform, to_channels(self.synthetic[q.image]["image"]), seed
                )
            }
        else:
            try:
                item = image_item(q.image, seed, self.transform, self.decode)
            except DataError as error:
                if not self.skip_bad:
                    raise
                print(f"skipped: {error}", file=sys.stderr)
                return None
        counts = Counter(normalize_answer(a) for a in q.answers)
        soft = [
            (self.answer_ids[a], min(n / 3, 1.0))
            for a, n in counts.items()
            if a in self.answer_ids
        ]
        soft += [(-1, 0.0)] * (10 - len(soft))
        return {
            **item,
            "question": torch.tensor(self.vocab.encode(q.question, self.max_length)),
            "label": self.answer_ids.get(q.answer, -1),
            "answer_type": q.answer_type,
            "answer_ids": torch.tensor([i for i, _ in soft[:10]]),
            "answer_scores": torch.tensor([s for _, s in soft[:10]]),
        }


@dataclass
class DataSets:
    train: Dataset
    val: Dataset
    classes: list[str]  # the answers
    vocab: Vocabulary
    source: str  # synthetic or vqa
    description: str

    def save_vocabularies(self, folder: Path) -> None:
        """vocab.json and answers.json next to the checkpoints, for evaluation and prediction."""
        (folder / "vocab.json").write_text(
            json.dumps(self.vocab.words, ensure_ascii=False, indent=0)
        )
        (folder / "answers.json").write_text(
            json.dumps(self.classes, ensure_ascii=False, indent=0)
        )


def load_datasets(
    root: str | None,
    config: dict,
    image_size: tuple[int, int] = IMAGE_SIZE,
    decode: str = "cpu",
    seed: int = 0,
    vocab: list[str] | None = None,
    answers: list[str] | None = None,
) -> DataSets:
    """Training and validation questions. Without `root`, the built-in synthetic questions about
    shapes; with it, VQA v1/v2's official files, or train.jsonl and val.jsonl. Pass the `vocab`
    and `answers` of a checkpoint to evaluate with them."""
    synthetic_train = synthetic_val = None
    if root is None:
        sizes = config["synthetic"]
        synthetic_train = SyntheticVQA(
            sizes["train_size"], image_size, CHANNELS, seed=seed
        )
        synthetic_val = SyntheticVQA(
            sizes["val_size"], image_size, CHANNELS, seed=seed + 1_000_000
        )
        train, val = synthetic_questions(synthetic_train), synthetic_questions(
            synthetic_val
        )
        source, where = "synthetic", "synthetic questions about shapes"
    else:
        path = Path(root).expanduser()
        if not path.is_dir():
            raise DataError(f"--data-root {root}: no such folder")
        if not any(path.iterdir()):
            raise DataError(f"--data-root {root} is empty")
        source = "vqa"
        if (path / "train.jsonl").is_file():
            train = jsonl_questions(path / "train.jsonl", path)
            if (path / "val.jsonl").is_file():
                val = jsonl_questions(path / "val.jsonl", path)
            elif config.get("val_split"):
                train, val = split(train, config["val_split"], seed)
            else:
                raise DataError(
                    f"{path} has train.jsonl but no val.jsonl; add one, or pass --val-split 0.2"
                )
            where = f"JSON lines at {path}"
        elif list(path.glob("*train2014_questions.json")):
            train, val = official_questions(path, "train2014"), official_questions(
                path, "val2014"
            )
            where = f"VQA at {path}"
        else:
            raise DataError(
                f"{path} holds neither train.jsonl (and val.jsonl) nor VQA's official files "
                "(*train2014_questions.json, *train2014_annotations.json, train2014/ and the same for val2014)"
            )
    vocabulary = (
        Vocabulary(vocab)
        if vocab
        else Vocabulary.build((q.question for q in train), config["min_word_count"])
    )
    classes = (
        list(answers)
        if answers
        else top_answers((q.answer for q in train), config["answers"])
    )
    known = set(classes)
    dropped = sum(q.answer not in known for q in train)
    train = [
        q for q in train if q.answer in known
    ]  # the rest would teach nothing the model can say
    if not train:
        raise DataError("no training question has one of the top answers")
    train_tf, eval_tf = build_transforms(image_size, source)
    length = config["max_question_length"]
    description = (
        f"{where}: {len(train)} training questions ({dropped} with rarer answers dropped), "
        f"{len(val)} validation, {len(vocabulary)} words, {len(classes)} answers"
    )
    return DataSets(
        Questions(
            train, vocabulary, classes, length, train_tf, decode, synthetic_train
        ),
        Questions(val, vocabulary, classes, length, eval_tf, decode, synthetic_val),
        classes,
        vocabulary,
        source,
        description,
    )


def synthetic_questions(dataset: SyntheticVQA) -> list[Question]:
    questions = []
    for i in range(len(dataset)):
        # the question and answer alone, without drawing the image
        text = dataset.text(i)
        questions.append(
            Question(
                i,
                text["question"],
                text["answer"],
                text["answer_type"],
                (text["answer"],) * 10,
            )
        )
    return questions


def jsonl_questions(file: Path, root: Path) -> list[Question]:
    """One {"image", "question", "answer"} object per line; image paths relative to `root`."""
    questions, absent = [], []
    for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataError(f"{file}:{number}: not valid JSON: {error.msg}") from None
        if not isinstance(record, dict):
            raise DataError(
                f"{file}:{number}: expected an object with image, question and answer"
            )
        missing = [key for key in ("image", "question", "answer") if key not in record]
        if missing:
            raise DataError(f"{file}:{number}: missing {', '.join(missing)}")
        image = Path(str(record["image"])).expanduser()
        image = image if image.is_absolute() else root / image
        if not image.is_file():
            absent.append(f"{file.name}:{number}: {image}")
        answers = tuple(str(a) for a in record.get("answers", ()))
        questions.append(
            Question(
                str(image),
                str(record["question"]),
                normalize_answer(str(record["answer"])),
                str(record.get("answer_type", "")),
                answers,
            )
        )
    if absent:
        raise DataError(f"{len(absent)} images are missing, e.g. {absent[0]}")
    if not questions:
        raise DataError(f"{file} has no questions")
    return questions


def official_questions(root: Path, split_name: str) -> list[Question]:
    """VQA v1/v2: questions and annotations JSON, COCO images COCO_{split}_{id:012d}.jpg."""
    questions_file = next(
        iter(sorted(root.glob(f"*{split_name}_questions.json"))), None
    )
    annotations_file = next(
        iter(sorted(root.glob(f"*{split_name}_annotations.json"))), None
    )
    images = next(
        (d for d in (root / split_name, root / "images" / split_name) if d.is_dir()),
        None,
    )
    missing = [
        name
        for name, found in (
            (f"*{split_name}_questions.json", questions_file),
            (f"*{split_name}_annotations.json", annotations_file),
            (f"{split_name}/", images),
        )
        if found is None
    ]
    if missing:
        raise DataError(f"{root} lacks VQA's {', '.join(missing)}")
    try:
        questions = json.loads(questions_file.read_text(encoding="utf-8"))["questions"]
        annotations = json.loads(annotations_file.read_text(encoding="utf-8"))[
            "annotations"
        ]
    except (json.JSONDecodeError, KeyError) as error:
        raise DataError(
            f"{questions_file.name} or {annotations_file.name} is not VQA's format: {error}"
        ) from None
    by_id = {a["question_id"]: a for a in annotations}
    result, absent = [], set()
    for q in questions:
        a = by_id.get(q["question_id"])
        if a is None:
            raise DataError(
                f"question {q['question_id']} of {questions_file.name} has no annotation in {annotations_file.name}"
            )
        image = images / f"COCO_{split_name}_{q['image_id']:012d}.jpg"
        if image not in absent and not image.is_file():
            absent.add(image)
        answers = tuple(x["answer"] for x in a.get("answers", []))
        result.append(
            Question(
                str(image),
                q["question"],
                normalize_answer(a["multiple_choice_answer"]),
                a.get("answer_type", ""),
                answers,
            )
        )
    if absent:
        raise DataError(
            f"{len(absent)} images are missing from {images}, e.g. {sorted(absent)[0].name}"
        )
    return result
