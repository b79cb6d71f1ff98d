"""Stacked attention networks: VQA data in the official format and as JSON lines, vocabularies
and answer classes, padding that does not leak, evaluation and prediction."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from generated import REPO, import_generated, project_for
from torchvision.io import write_jpeg, write_png

from scaffold.blueprint import blueprint_from_data
from scaffold.render import new_project

CONFIG = {
    "answers": 3,
    "min_word_count": 2,
    "max_question_length": 8,
    "val_split": 0.34,
    "image_size": [32, 32],
    "synthetic": {"train_size": 16, "val_size": 8},
}


def jpeg(path: Path, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    generator = torch.Generator().manual_seed(seed)
    write_jpeg(
        torch.randint(0, 256, (3, 24, 30), dtype=torch.uint8, generator=generator), str(path)
    )


TRAIN = [
    ("what colour is the cup", "red"),
    ("what colour is the cup", "blue"),
    ("is there a cup", "yes"),
    ("is there a dog", "no"),
    ("is there a cup", "yes"),
    ("how many cups", "two"),  # a rare answer: not among the top 3
]
VAL = [("what colour is the dog", "red"), ("how many dogs", "seven")]


def make_jsonl(root: Path, with_val: bool = True) -> Path:
    for split, rows in (("train", TRAIN), ("val", VAL)):
        if split == "val" and not with_val:
            continue
        lines = []
        for i, (question, answer) in enumerate(rows):
            image = f"images/{split}_{i}.jpg"
            jpeg(root / image, i)
            lines.append(json.dumps({"image": image, "question": question + "?", "answer": answer}))
        (root / f"{split}.jsonl").write_text("\n".join(lines) + "\n")
    return root


def make_official(root: Path) -> Path:
    for split, rows in (("train2014", TRAIN), ("val2014", VAL)):
        questions, annotations = [], []
        for i, (question, answer) in enumerate(rows):
            image_id = 100 + i
            jpeg(root / split / f"COCO_{split}_{image_id:012d}.jpg", i)
            questions.append({"image_id": image_id, "question": question + "?", "question_id": i})
            humans = [answer] * 4 + ["maybe"] * 6  # 4 of 10 humans agree: soft score 1.0
            kind = (
                "yes/no"
                if answer in ("yes", "no")
                else ("number" if "many" in question else "other")
            )
            annotations.append(
                {
                    "question_id": i,
                    "image_id": image_id,
                    "multiple_choice_answer": answer,
                    "answer_type": kind,
                    "answers": [{"answer": a, "answer_id": j} for j, a in enumerate(humans)],
                }
            )
        (root / f"v2_OpenEnded_mscoco_{split}_questions.json").write_text(
            json.dumps({"questions": questions})
        )
        (root / f"v2_mscoco_{split}_annotations.json").write_text(
            json.dumps({"annotations": annotations})
        )
    return root


@pytest.fixture(scope="module")
def san(tmp_path_factory):
    dest, project = project_for("san_vgg_lstm", str(tmp_path_factory.mktemp("san")))
    return dest, project, import_generated(dest, "data")


@pytest.mark.parametrize("layout", ["jsonl", "official"])
def test_vocabulary_and_answer_classes_come_from_the_training_questions(san, tmp_path, layout):
    _, _, data = san
    root = make_jsonl(tmp_path) if layout == "jsonl" else make_official(tmp_path)
    sets = data.load_datasets(str(root), CONFIG)
    # words seen at least twice in training questions; <pad> is 0, <unk> is 1
    assert sets.vocab.words[:2] == ["<pad>", "<unk>"]
    assert set(sets.vocab.words[2:]) == {"is", "there", "a", "cup", "what", "colour", "the"}
    assert sets.classes == ["yes", "blue", "no"]  # top 3 by count, ties alphabetical
    assert len(sets.train) == 4  # "red" and "two" are outside the top 3: dropped from training
    assert len(sets.val) == 2  # kept, and counted as wrong
    labels = [sets.val[i]["label"] for i in range(2)]
    assert labels == [-1, -1]
    item = sets.train[0]
    assert item["image"].shape == (3, 32, 32)
    assert item["question"].tolist() == sets.vocab.encode(TRAIN[1][0], 8)
    assert sets.vocab.encode("is there a zebra", 8)[-1] == 1  # unknown word


def test_official_annotations_give_types_and_soft_scores(san, tmp_path):
    _, _, data = san
    sets = data.load_datasets(str(make_official(tmp_path)), CONFIG)
    item = sets.train[0]  # "what colour is the cup" -> blue (4 of 10 humans)
    assert item["answer_type"] == "other"
    scores = dict(zip(item["answer_ids"].tolist(), item["answer_scores"].tolist()))
    assert scores[sets.classes.index("blue")] == 1.0


def test_a_single_file_is_split_by_image_reproducibly(san, tmp_path):
    """Without val.jsonl, validation questions are held out by image: no image on both sides."""
    _, _, data = san
    root = make_jsonl(tmp_path, with_val=False)
    lines = (root / "train.jsonl").read_text().splitlines()
    again = [
        line.replace("train_0.jpg", "train_1.jpg") for line in lines
    ]  # two questions, one image
    (root / "train.jsonl").write_text("\n".join(again + lines[1:2]) + "\n")
    config = {**CONFIG, "answers": 10}
    first = data.load_datasets(str(root), config, seed=3)
    images = lambda sets, split: {q.image for q in getattr(sets, split).questions}  # noqa: E731
    assert first.held_out and not images(first, "train") & images(first, "val")
    assert len(images(first, "val")) == 2  # 34% of the 5 images
    assert images(data.load_datasets(str(root), config, seed=3), "val") == images(first, "val")


def test_bad_jsonl_lines_are_named(san, tmp_path):
    _, _, data = san
    root = make_jsonl(tmp_path)
    (root / "val.jsonl").write_text('{"image": "images/val_0.jpg", "question": "why?"}\n')
    with pytest.raises(data.DataError, match=r"val.jsonl:1: missing answer"):
        data.load_datasets(str(root), CONFIG)
    (root / "val.jsonl").write_text('{"image": "nowhere.jpg", "question": "why?", "answer": "x"}\n')
    with pytest.raises(data.DataError, match="missing"):
        data.load_datasets(str(root), CONFIG)


@pytest.mark.parametrize("name", ["san_vgg_lstm", "san_vgg_cnn"])
def test_padding_does_not_leak(name, generated_root):
    """A padded batch gives every question exactly what it gives run alone."""
    dest, project = project_for(name, generated_root)
    model = getattr(import_generated(dest, "model"), project.class_name)(
        vocab_size=40, num_classes=7
    ).eval()
    torch.manual_seed(0)
    images = torch.randn(3, 3, 32, 32)
    questions = [[5, 6, 7, 8, 9], [10, 11], [12]]
    padded = torch.zeros(3, 5, dtype=torch.long)
    for i, q in enumerate(questions):
        padded[i, : len(q)] = torch.tensor(q)
    with torch.no_grad():
        together = model(images, padded)
        for i, q in enumerate(questions):
            alone = model(images[i : i + 1], torch.tensor([q]))
            torch.testing.assert_close(together[i : i + 1], alone, rtol=1e-5, atol=1e-5)


def test_train_evaluate_and_predict_with_attention_maps(san, tmp_path, capsys):
    dest, _, data = san
    root = make_official(tmp_path / "vqa")
    out = tmp_path / "run"
    train = import_generated(dest, "train")
    train.main(["--data-root", str(root), "--epochs", "1", "--batch-size", "2", "--image-size", "32",
                "--workers", "0", "--device", "cpu", "--no-pretrained", "--out", str(out)])  # fmt: skip
    assert json.loads((out / "answers.json").read_text()) and json.loads(
        (out / "vocab.json").read_text()
    )
    capsys.readouterr()
    import_generated(dest, "evaluate").main(
        ["--checkpoint", str(out / "last.pt"), "--device", "cpu", "--workers", "0"]
    )
    report = capsys.readouterr().out
    assert "accuracy" in report and "VQA accuracy" in report
    assert "number" in report and "other" in report  # the validation questions' types
    image = root / "val2014" / "COCO_val2014_000000000100.jpg"
    import_generated(dest, "predict").main(
        [
            "--checkpoint",
            str(out / "last.pt"),
            "--image",
            str(image),
            "--question",
            "is there a cup?",
            "--device",
            "cpu",
        ]
    )
    assert image.with_suffix(".attention.png").is_file()


def test_attention_maps_are_laid_out_on_the_grid_of_image_regions(tmp_path, monkeypatch):
    """A 32x64 image through two 2x2 poolings gives 8x16 regions: the maps are 8x16, not a
    square guessed from the 128 regions."""
    blueprint = yaml.safe_load((REPO / "blueprints" / "san_vgg_lstm.yaml").read_text())
    blueprint["input"]["image"] = {"channels": 3, "height": 32, "width": 64}
    blueprint["model"]["image"] = [
        {"vgg": {"cfg": [8, "M", 16, "M"]}},
        {"project_regions": {"out": 16}},
    ]
    blueprint["model"]["question"] = [{"embedding": 8}, {"lstm": 16}]
    blueprint["model"]["head"][0]["stacked_attention"]["attention"] = 8
    blueprint["data"]["synthetic"] = {"train_size": 8, "val_size": 4}
    blueprint["data"]["transforms"] = {
        "train": [{"resize": [32, 64]}],
        "eval": [{"resize": [32, 64]}],
    }
    blueprint["train"] = {"epochs": 1, "batch_size": 4, "optimizer": {"name": "adam", "lr": 1e-3}}
    dest = tmp_path / "san_wide"
    new_project(blueprint_from_data(blueprint), dest, "san_wide", git=False)
    out = tmp_path / "run"
    import_generated(dest, "train").main(
        ["--device", "cpu", "--workers", "0", "--limit-batches", "1", "--out", str(out)]
    )
    image = tmp_path / "scene.png"
    write_png(torch.randint(0, 256, (3, 32, 64), dtype=torch.uint8), str(image))
    predict = import_generated(dest, "predict")
    drawn = []
    monkeypatch.setattr(predict, "save_attention", lambda pixels, maps, *rest: drawn.append(maps))
    predict.main(
        [
            "--checkpoint",
            str(out / "last.pt"),
            "--image",
            str(image),
            "--question",
            "is there a circle?",
            "--device",
            "cpu",
        ]
    )
    assert drawn[0].shape == (2, 8, 16)  # hops, rows, columns
