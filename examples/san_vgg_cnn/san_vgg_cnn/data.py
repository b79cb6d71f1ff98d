"""Data for san_vgg_cnn: images with questions and answers, and the loaders that feed training.

Sources: the built-in synthetic questions about shapes (without --data-root), VQA v1/v2's official
files, or JSON lines (train.jsonl, with val.jsonl and test.jsonl where they exist). Without a
validation split, one is held out of the training questions by image (data.val_split), so that no
image is on both sides. Images are uint8 tensors (C x H x W) that go through the blueprint's
transforms (resize 448, center_crop 448 for training; resize 448, center_crop 448 for evaluation) in
the loader workers, or with --decode gpu are decoded and transformed on the GPU in batches;
conversion to float and normalisation run on the training device (`normalize`).
"""

import json
import os
import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset, Sampler
from torchvision.io import ImageReadMode, decode_image, decode_jpeg, read_file
from torchvision.transforms import v2

from .synthetic import SyntheticVQA

IMAGE_SIZE = (448, 448)  # the model's input, height x width
CHANNELS = 3
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


class DataError(Exception):
    """A problem with the data that the user can fix: training stops with this message."""

    def __str__(self) -> str:
        # raised in a loader worker, it arrives with the worker's traceback: keep the message
        text = super().__str__().strip()
        return text.splitlines()[-1].split("DataError: ", 1)[-1] if "Traceback" in text else text


def build_transforms(size: tuple[int, int] = IMAGE_SIZE) -> tuple[v2.Transform, v2.Transform]:
    """The blueprint's training and evaluation transforms of uint8 image tensors, their sizes
    scaled to the run's image `size`."""
    train = v2.Compose([v2.Resize(size[0], antialias=True), v2.CenterCrop(size)])
    evaluation = v2.Compose([v2.Resize(size[0], antialias=True), v2.CenterCrop(size)])
    return train, evaluation


def normalize(images: torch.Tensor) -> torch.Tensor:
    """uint8 images (N, C, H, W) on any device -> normalised float32."""
    mean = torch.tensor(MEAN, device=images.device).view(1, -1, 1, 1)
    std = torch.tensor(STD, device=images.device).view(1, -1, 1, 1)
    return images.float().div_(255).sub_(mean).div_(std)


def decode(data: torch.Tensor, path: str) -> torch.Tensor:
    """An image file's bytes as a uint8 tensor (C, H, W) with the model's channels."""
    try:
        return decode_image(data, mode=ImageReadMode.RGB)
    except RuntimeError as error:
        raise DataError(f"cannot decode image {path}: {error}") from None


def image_item(path: str, transform, decode_on="cpu") -> dict:
    """An image file as a sample: its transformed pixels, or (`decode_on="gpu"`) what the GPU
    needs to decode and transform it in a batch."""
    data = read_file(path)
    if decode_on == "gpu":
        if not is_jpeg(data):  # PNG and friends: decoded here, transformed there
            data = decode(data, path)
        return {"data": data, "path": path}
    image = decode(data, path)
    return {"image": transform(image)}


class SeededSampler(Sampler):
    """This process's share of the data in a seeded order: for training a new order each epoch, the
    same number of steps on every rank; for evaluation every sample once. set_epoch's `start` skips
    samples done before a resume."""

    def __init__(self, size: int, seed: int, shuffle: bool, rank: int = 0, world: int = 1) -> None:
        self.size, self.seed, self.shuffle, self.rank, self.world = size, seed, shuffle, rank, world
        self.epoch = self.start = 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        self.epoch, self.start = epoch, start

    def indices(self) -> list[int]:
        if not self.shuffle:
            return list(range(self.rank, self.size, self.world))
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(self.size, generator=generator).tolist()
        return order[self.rank :: self.world][: self.size // self.world]

    def __iter__(self):
        return iter(self.indices()[self.start :])

    def __len__(self) -> int:
        return max(0, len(self.indices()) - self.start)


def collate(items: list[dict | None]) -> dict:
    """Stack tensors, pad questions with 0, keep lists of what cannot be stacked (JPEG bytes,
    strings); undecodable samples (None) are counted in "skipped"."""
    kept = [item for item in items if item is not None]
    batch = {"skipped": len(items) - len(kept)}
    for key in kept[0] if kept else []:
        values = [item[key] for item in kept]
        if key == "question":
            batch[key] = torch.nn.utils.rnn.pad_sequence(values, batch_first=True)
            continue
        if isinstance(values[0], torch.Tensor) and all(v.shape == values[0].shape for v in values):
            batch[key] = torch.stack(values)
        elif isinstance(values[0], (int, float)):
            batch[key] = torch.tensor(values)
        else:
            batch[key] = values
    return batch


def make_loader(dataset, sampler: SeededSampler, batch_size: int, workers: int, pin_memory: bool):
    workers = min(workers, os.cpu_count() or 1)  # more would only compete for the cores
    return DataLoader(
        dataset,
        batch_size,
        sampler=sampler,
        num_workers=workers,
        collate_fn=collate,
        pin_memory=pin_memory,
        drop_last=sampler.shuffle,  # training steps take full batches
        persistent_workers=workers > 0,
        generator=torch.Generator(),  # not the global one, which dropout draws from: exact resume
    )


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
            (w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w)
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
        answer for answer, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:n]
    ]


@dataclass
class Question:
    image: str | int  # an image file, or the index of a synthetic image
    question: str
    answer: str
    answer_type: str = ""  # yes/no, number or other, when the data says
    answers: tuple[str, ...] = ()  # the ten human answers, when the data has them


class Questions(Dataset):
    """Images with a question each: the image (transformed, or JPEG bytes for the GPU), the
    question as word ids, and the answer's class (-1 when it is not among the top answers)."""

    skip_bad = False  # True: an undecodable image is skipped (and counted), not an error

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
        self.transform, self.synthetic = transform, synthetic
        self.decode = decode
        self.answer_ids = {answer: i for i, answer in enumerate(answers)}

    def __len__(self) -> int:
        return len(self.questions)

    def __getitem__(self, index: int) -> dict | None:
        q = self.questions[index]
        if self.synthetic is not None:
            image = self.synthetic[q.image]["image"]
            item = {"image": self.transform(image)}
        else:
            try:
                item = image_item(q.image, self.transform, self.decode)
            except DataError as error:
                if not self.skip_bad:
                    raise
                print(f"skipped: {error}", file=sys.stderr)
                return None
        return {**item, **self.fields(index)}

    def fields(self, index: int) -> dict:
        """The sample without its image: the question, the answer's class, the humans' answers."""
        q = self.questions[index]
        counts = Counter(normalize_answer(a) for a in q.answers)
        soft = [
            (self.answer_ids[a], min(n / 3, 1.0)) for a, n in counts.items() if a in self.answer_ids
        ]
        soft = (soft + [(-1, 0.0)] * 10)[:10]  # (class, VQA score) of the humans' answers
        return {
            "question": torch.tensor(self.vocab.encode(q.question, self.max_length)),
            "label": self.answer_ids.get(q.answer, -1),
            "answer_type": q.answer_type,
            "answer_ids": torch.tensor([i for i, _ in soft]),
            "answer_scores": torch.tensor([s for _, s in soft]),
        }


@dataclass
class DataSets:
    train: Dataset
    val: Dataset
    test: Dataset | None  # the source's test split, never used in training
    classes: list[str]  # the answers
    vocab: Vocabulary
    description: str
    held_out: bool  # validation was held out of the training questions (data.val_split)

    def save_vocabularies(self, folder: Path) -> None:
        """vocab.json and answers.json next to the checkpoints, for evaluation and prediction."""
        for name, words in (("vocab", self.vocab.words), ("answers", self.classes)):
            (folder / f"{name}.json").write_text(json.dumps(words, ensure_ascii=False, indent=0))


def load_datasets(
    root: str | None,
    config: dict,
    seed: int = 0,
    decode: str = "cpu",
    vocab: list[str] | None = None,
    answers: list[str] | None = None,
) -> DataSets:
    """Training, validation and test questions. Without `root`, the built-in synthetic questions
    about shapes; with it, VQA v1/v2's official files, or train.jsonl with val.jsonl and test.jsonl
    where they exist. Pass the `vocab` and `answers` of a checkpoint to evaluate with them."""
    size = tuple(config["image_size"])
    images = {}  # the synthetic images of each split
    held_out = False
    if root is None:
        sizes = config["synthetic"]
        images = {
            "train": SyntheticVQA(sizes["train_size"], size, CHANNELS, seed),
            "val": SyntheticVQA(sizes["val_size"], size, CHANNELS, seed + 1_000_000),
        }
        splits = {name: synthetic_questions(drawn) for name, drawn in images.items()}
        where = "synthetic questions about shapes"
    else:
        path = Path(root).expanduser()
        if not path.is_dir():
            raise DataError(f"--data-root {root}: no such folder")
        if (path / "train.jsonl").is_file():
            splits = {
                n: jsonl_questions(path / f"{n}.jsonl", path)
                for n in ("train", "val", "test")
                if (path / f"{n}.jsonl").is_file()
            }
            where = f"JSON lines at {path}"
        elif list(path.glob("*train2014_questions.json")):
            splits = {n: official_questions(path, f"{n}2014") for n in ("train", "val")}
            where = f"VQA at {path}"
        else:
            raise DataError(
                f"{path} holds neither train.jsonl (with val.jsonl) nor VQA's official files"
                " (*train2014_questions.json, *train2014_annotations.json, train2014/; the same"
                " for val2014)"
            )
        held_out = "val" not in splits
        if held_out:
            splits["train"], splits["val"] = split_by_image(
                splits["train"], config["val_split"], seed
            )
    train = splits["train"]
    vocabulary = (
        Vocabulary(vocab)
        if vocab
        else Vocabulary.build((q.question for q in train), config["min_word_count"])
    )
    classes = (
        list(answers) if answers else top_answers((q.answer for q in train), config["answers"])
    )
    known = set(classes)
    dropped = sum(q.answer not in known for q in train)
    splits["train"] = [
        q for q in train if q.answer in known
    ]  # the rest teach nothing the model can say
    if not splits["train"]:
        raise DataError("no training question has one of the top answers")
    train_tf, eval_tf = build_transforms(size)
    sets = {
        name: Questions(
            questions,
            vocabulary,
            classes,
            config["max_question_length"],
            train_tf if name == "train" else eval_tf,
            decode,
            images.get(name),
        )
        for name, questions in splits.items()
    }
    counts = ", ".join(f"{len(sets[n])} {n}" for n in ("train", "val", "test") if n in sets)
    description = (
        f"{where}: {counts} questions ({dropped} training questions with rarer answers dropped), "
        f"{len(vocabulary)} words, {len(classes)} answers"
    )
    return DataSets(
        sets["train"], sets["val"], sets.get("test"), classes, vocabulary, description, held_out
    )


def split_by_image(questions: list[Question], fraction: float, seed: int) -> tuple[list, list]:
    """A seeded split that holds out the questions of `fraction` of the images: no image is on
    both sides."""
    images = sorted({q.image for q in questions})
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed)).tolist()
    held = {images[i] for i in order[: max(1, round(len(images) * fraction))]}
    if len(held) == len(images):
        raise DataError(
            f"cannot split the questions of {len(images)} images into training and validation"
        )
    return [q for q in questions if q.image not in held], [q for q in questions if q.image in held]


def synthetic_questions(dataset: SyntheticVQA) -> list[Question]:
    questions = []
    for i in range(len(dataset)):
        text = dataset.text(i)  # the question and answer alone, without drawing the image
        questions.append(
            Question(
                i, text["question"], text["answer"], text["answer_type"], (text["answer"],) * 10
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
            raise DataError(f"{file}:{number}: expected an object with image, question and answer")
        missing = [key for key in ("image", "question", "answer") if key not in record]
        if missing:
            raise DataError(f"{file}:{number}: missing {', '.join(missing)}")
        image = Path(str(record["image"])).expanduser()
        image = image if image.is_absolute() else root / image
        if not image.is_file():
            absent.append(f"{file.name}:{number}: {image}")
        answers = tuple(str(a) for a in record.get("answers", ()))
        answer = normalize_answer(str(record["answer"]))
        questions.append(
            Question(
                str(image),
                str(record["question"]),
                answer,
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
    questions_file = next(iter(sorted(root.glob(f"*{split_name}_questions.json"))), None)
    annotations_file = next(iter(sorted(root.glob(f"*{split_name}_annotations.json"))), None)
    images = next(
        (d for d in (root / split_name, root / "images" / split_name) if d.is_dir()), None
    )
    wanted = {
        f"*{split_name}_questions.json": questions_file,
        f"*{split_name}_annotations.json": annotations_file,
        f"{split_name}/": images,
    }
    missing = [name for name, found in wanted.items() if found is None]
    if missing:
        raise DataError(f"{root} lacks VQA's {', '.join(missing)}")
    try:
        questions = json.loads(questions_file.read_text(encoding="utf-8"))["questions"]
        annotations = json.loads(annotations_file.read_text(encoding="utf-8"))["annotations"]
    except (json.JSONDecodeError, KeyError) as error:
        raise DataError(
            f"{questions_file.name} or {annotations_file.name} is not VQA's format: {error}"
        ) from None
    by_id = {a["question_id"]: a for a in annotations}
    result, absent = [], set()
    for q in questions:
        a = by_id.get(q["question_id"])
        if a is None:
            where = f"{questions_file.name} has no annotation in {annotations_file.name}"
            raise DataError(f"question {q['question_id']} of {where}")
        image = images / f"COCO_{split_name}_{q['image_id']:012d}.jpg"
        if image not in absent and not image.is_file():
            absent.add(image)
        answers = tuple(x["answer"] for x in a.get("answers", []))
        answer = normalize_answer(a["multiple_choice_answer"])
        result.append(
            Question(str(image), q["question"], answer, a.get("answer_type", ""), answers)
        )
    if absent:
        raise DataError(
            f"{len(absent)} images are missing from {images}, e.g. {sorted(absent)[0].name}"
        )
    return result


def is_jpeg(data: torch.Tensor) -> bool:
    return data.numel() > 2 and int(data[0]) == 0xFF and int(data[1]) == 0xD8


def decode_on_device(
    batch: dict, transform: v2.Transform, device: torch.device, skip_bad: bool = False
) -> torch.Tensor | None:
    """Decode a batch of JPEG files on `device` (nvJPEG on a GPU) and apply the transforms the
    loader workers would. With `skip_bad`, undecodable files are
    left out, and their labels dropped from `batch` (None: none was left)."""
    datas, mode = batch["data"], ImageReadMode.RGB
    jpegs = [i for i, d in enumerate(datas) if d.dim() == 1]  # bytes; the rest arrive decoded
    # nvJPEG reads the bytes from (pinned) host memory itself: only decoded images are copied
    images = [None if d.dim() == 1 else d.to(device, non_blocking=True) for d in datas]
    try:
        decoded = decode_jpeg([datas[i] for i in jpegs], mode=mode, device=device) if jpegs else []
    except RuntimeError:  # one bad file fails the batch: find it
        decoded = []
        for i in jpegs:
            try:
                decoded.append(decode_jpeg(datas[i], mode=mode, device=device))
            except RuntimeError as error:
                if not skip_bad:
                    raise DataError(f"cannot decode image {batch['path'][i]}: {error}") from None
                decoded.append(None)
    for i, image in zip(jpegs, decoded):
        images[i] = image
    keep = [i for i, image in enumerate(images) if image is not None]
    out = []
    for i in keep:
        image = images[i]
        out.append(transform(image))
    batch["skipped"] += len(images) - len(keep)
    for key, value in batch.items():  # the labels and questions of the images kept
        if isinstance(value, torch.Tensor) and len(value) == len(images):
            batch[key] = value[keep]
    if not out:
        del batch["label"]
    return torch.stack(out) if out else None
