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
