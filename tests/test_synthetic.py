"""The synthetic data sets of generated projects (templates/_partials/synthetic/: a project holds
the shape masks, and either the shapes or the common part and the questions about shapes).

The partials are plain Python, so both data sets are loaded here as one module.
"""

import colorsys
import multiprocessing
import re
import time
import types
from collections import Counter
from itertools import pairwise
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from generated import import_generated, project_for
from torch import nn

PARTIALS = Path(__file__).parents[1] / "templates" / "_partials" / "synthetic"
PARTS = [PARTIALS / f"{name}.py" for name in ("common", "mask", "shapes", "vqa")]
IMPORTS = "import colorsys\nimport hashlib\nimport math\n\nimport torch\nfrom torch.utils.data import Dataset\n"


@pytest.fixture(scope="module")
def synthetic():
    module = types.ModuleType("synthetic")
    source = IMPORTS + "\n\n".join(path.read_text() for path in PARTS)
    exec(compile(source, "synthetic.py", "exec"), module.__dict__)
    return module


@pytest.fixture
def two_threads():
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(threads)


def test_is_plain_python_with_no_template_syntax():
    for path in PARTS:
        text = path.read_text()
        assert "{{" not in text and "{%" not in text
        assert "numpy" not in text and "PIL" not in text


@pytest.mark.parametrize(
    "name, has, lacks",
    [
        ("lenet", "SyntheticShapes", "SyntheticVQA"),
        ("san_vgg_cnn", "SyntheticVQA", "SyntheticShapes"),
    ],
)
def test_a_project_holds_only_its_own_synthetic_data(name, has, lacks, generated_root):
    dest, _ = project_for(name, generated_root)
    text = (dest / name / "synthetic.py").read_text()
    assert f"class {has}(" in text and lacks not in text


# --- SyntheticShapes --------------------------------------------------------------------------


@pytest.mark.parametrize("channels", [1, 3, 4])
@pytest.mark.parametrize("image_size", [(8, 8), (32, 32), (33, 47), (224, 224)])
def test_shapes_items(synthetic, channels, image_size):
    data = synthetic.SyntheticShapes(20, 10, image_size, channels, seed=3)
    assert len(data) == 20
    for index in range(len(data)):
        image, label = data[index]
        assert image.dtype == torch.uint8
        assert image.shape == (channels, *image_size)
        assert isinstance(label, int) and 0 <= label < 10


def test_shapes_labels_are_balanced(synthetic):
    data = synthetic.SyntheticShapes(1000, 10, (8, 8), 1)
    assert Counter(data[i][1] for i in range(len(data))) == {c: 100 for c in range(10)}


def test_shapes_are_large_and_fully_visible(synthetic):
    for image_size in [(16, 16), (64, 64), (40, 90)]:
        data = synthetic.SyntheticShapes(60, 10, image_size, 3)
        for index in range(len(data)):
            bright = data[index][0].amax(dim=0) > 100
            # The thinnest shape (a ring) covers about 15% of a square image.
            assert bright.float().mean() > 0.05
            frame = torch.cat([bright[0], bright[-1], bright[:, 0], bright[:, -1]])
            # A shape may touch the border but never runs off it.
            assert frame.float().mean() < 0.2


def test_shapes_out_of_range_index(synthetic):
    data = synthetic.SyntheticShapes(5, 2, (8, 8), 1)
    with pytest.raises(IndexError):
        data[5]
    assert len(list(data)) == 5


def test_shapes_are_deterministic(synthetic):
    data = synthetic.SyntheticShapes(50, 10, (33, 47), 3, seed=7)
    forwards = [data[i] for i in range(50)]
    torch.manual_seed(12345)  # the global RNG must play no part
    state = torch.get_rng_state()
    again = synthetic.SyntheticShapes(50, 10, (33, 47), 3, seed=7)
    backwards = [again[i] for i in reversed(range(50))][::-1]
    assert torch.equal(torch.get_rng_state(), state)
    for (image, label), (image_again, label_again) in zip(forwards, backwards, strict=True):
        assert label == label_again
        assert torch.equal(image, image_again)
    assert not torch.equal(forwards[0][0], forwards[10][0])  # same class, different item
    other_seed = synthetic.SyntheticShapes(50, 10, (33, 47), 3, seed=8)
    assert all(not torch.equal(forwards[i][0], other_seed[i][0]) for i in range(50))


# The module is loaded by path, so workers must be forked: they could not import it.
@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="no fork")
def test_shapes_are_the_same_in_data_loader_workers(synthetic):
    data = synthetic.SyntheticShapes(32, 10, (16, 16), 3, seed=1)
    loader = torch.utils.data.DataLoader(
        data, batch_size=4, num_workers=2, multiprocessing_context="fork"
    )
    images = torch.cat([batch for batch, _ in loader])
    assert torch.equal(images, torch.stack([data[i][0] for i in range(32)]))


@pytest.mark.parametrize("num_classes", [2, 8, 10])
def test_every_class_is_a_shape_of_its_own(synthetic, num_classes):
    """The project keeps the synthetic task to at most ten classes: one shape each."""
    assert len(synthetic.SHAPES) == len(set(synthetic.SHAPES)) == 10
    data = synthetic.SyntheticShapes(2 * num_classes, num_classes, (16, 16), 1)
    assert data.classes == list(synthetic.SHAPES[:num_classes])
    masks = [data[i][0][0] > 100 for i in range(num_classes)]
    assert all(not torch.equal(a, b) for a, b in pairwise(masks))


def shape_colour(image: torch.Tensor) -> torch.Tensor:
    """The median colour (0..1) of the shape's pixels in a SyntheticShapes image."""
    pixels = image.flatten(1).float() / 255
    return pixels[:, pixels.amax(dim=0) > 0.35].median(dim=1).values


def test_colour_does_not_give_the_class(synthetic):
    data = synthetic.SyntheticShapes(500, 10, (32, 32), 3)
    hues = [colorsys.rgb_to_hsv(*shape_colour(data[i][0]).tolist())[0] for i in range(0, 500, 10)]
    assert min(hues) < 0.1 and max(hues) > 0.9  # circles of all hues


def test_shapes_are_fast(synthetic):
    data = synthetic.SyntheticShapes(100, 10, (32, 32), 3)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in a data loader worker
    try:
        timings = []
        for _ in range(3):
            start = time.perf_counter()
            for index in range(len(data)):
                data[index]
            timings.append((time.perf_counter() - start) / len(data))
    finally:
        torch.set_num_threads(threads)
    # About 0.1 ms an item; the bound only catches something gone badly wrong, even on a
    # busy machine.
    assert min(timings) < 0.005


# --- SyntheticVQA -----------------------------------------------------------------------------


@pytest.mark.parametrize("channels", [1, 3, 4])
@pytest.mark.parametrize("image_size", [(8, 8), (32, 32), (33, 47), (224, 224)])
def test_vqa_items(synthetic, channels, image_size):
    data = synthetic.SyntheticVQA(12, image_size, channels, seed=2)
    assert len(data) == 12
    for index in range(len(data)):
        item = data[index]
        assert set(item) == {"image", "question", "answer", "answer_type"}
        assert item["image"].dtype == torch.uint8
        assert item["image"].shape == (channels, *image_size)
        assert re.fullmatch(r"[a-z]+( [a-z]+)*\?", item["question"])
        assert item["answer"] in synthetic.VQA_ANSWERS


def test_vqa_is_deterministic(synthetic):
    data = synthetic.SyntheticVQA(30, (32, 32), seed=4)
    items = [data[i] for i in range(30)]
    again = synthetic.SyntheticVQA(30, (32, 32), seed=4)
    for index in reversed(range(30)):
        item = again[index]
        assert torch.equal(item.pop("image"), items[index]["image"])
        assert item == {k: v for k, v in items[index].items() if k != "image"}
    other_seed = synthetic.SyntheticVQA(30, (32, 32), seed=5)
    assert all(not torch.equal(items[i]["image"], other_seed[i]["image"]) for i in range(30))


def test_vqa_text_without_image(synthetic):
    data = synthetic.SyntheticVQA(40, (64, 64), seed=6)
    for index in range(len(data)):
        item = data[index]
        del item["image"]
        assert data.text(index) == item
    with pytest.raises(IndexError):
        data.text(40)


def test_vqa_answers_are_spread(synthetic):
    data = synthetic.SyntheticVQA(2000, (8, 8), channels=1)
    items = [data[i] for i in range(len(data))]
    answers = Counter(item["answer"] for item in items)
    assert answers.most_common(1)[0][1] < 0.3 * len(items)

    by_type = {
        kind: [item for item in items if item["answer_type"] == kind]
        for kind in ("yes/no", "number", "other")
    }
    for answer_type, group in by_type.items():
        assert 0.28 < len(group) / len(items) < 0.39, answer_type
    yes = sum(item["answer"] == "yes" for item in by_type["yes/no"])
    assert 0.4 < yes / len(by_type["yes/no"]) < 0.6
    numbers = Counter(item["answer"] for item in by_type["number"])
    assert set(numbers) == {"0", "1", "2", "3"}
    assert min(numbers.values()) > 0.15 * len(by_type["number"])
    assert {item["answer"] for item in by_type["other"]} == set(synthetic.COLOURS)
    for item in items:
        kinds = [kind for kind in synthetic.VQA_SHAPES if kind in item["question"]]
        assert len(kinds) == 1


def find_shapes(image: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
    """(kind, median colour in 0..1) of each shape in a SyntheticVQA image: a re-derivation.

    Shapes are the connected regions clearly brighter than the dark background (after a
    3x3 median filter, which removes most of the noise but keeps edges); the kind follows
    from how much of its bounding box a region fills: square 1, circle pi / 4, triangle 1 / 2.
    """
    pixels = image.float() / 255
    height, width = pixels.shape[1:]
    neighbourhoods = F.unfold(F.pad(pixels[None], (1, 1, 1, 1), mode="replicate"), 3)
    filtered = neighbourhoods.reshape(len(pixels), 9, -1).median(dim=1).values
    bright = filtered.amax(dim=0).reshape(height, width) > 0.22
    # Connected components: every bright pixel takes the largest label among its
    # neighbours until nothing changes.
    labels = torch.arange(1, bright.numel() + 1, dtype=torch.float32).reshape(bright.shape)
    labels = labels * bright
    while True:
        grown = F.max_pool2d(labels[None], 3, stride=1, padding=1)[0] * bright
        if torch.equal(grown, labels):
            break
        labels = grown
    shapes = []
    for label in labels.unique()[1:]:
        region = labels == label
        rows, cols = region.nonzero(as_tuple=True)
        box = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
        fill = region.sum().item() / box.item()
        kind = "triangle" if fill < 0.65 else "circle" if fill < 0.9 else "square"
        shapes.append((kind, pixels[:, region].median(dim=1).values))
    return shapes


def colour_name(colour: torch.Tensor, colours: dict) -> str:
    """The nearest of `colours` (RGB 0..255) to an RGB colour in 0..1."""
    # Shapes are drawn at 90-100% of their colour.
    palette = torch.tensor(list(colours.values()), dtype=torch.float32) / 255 * 0.95
    return list(colours)[int((palette - colour).norm(dim=1).argmin())]


def test_vqa_answers_follow_from_the_image(synthetic):
    data = synthetic.SyntheticVQA(90, (96, 96), seed=11)
    for index in range(len(data)):
        item = data[index]
        shapes = [
            (kind, colour_name(colour, synthetic.COLOURS))
            for kind, colour in find_shapes(item["image"])
        ]
        assert 1 <= len(shapes) <= 4
        (kind,) = [kind for kind in synthetic.VQA_SHAPES if kind in item["question"]]
        count = sum(found == kind for found, _ in shapes)
        if item["answer_type"] == "yes/no":
            assert item["question"] == f"is there a {kind}?"
            assert item["answer"] == ("yes" if count else "no"), (index, shapes)
        elif item["answer_type"] == "number":
            assert item["question"] == f"how many {kind}s are there?"
            assert item["answer"] == str(count), (index, shapes)
        else:
            assert item["question"] == f"what colour is the {kind}?"
            assert [colour for found, colour in shapes if found == kind] == [item["answer"]]


def test_vqa_grey_colours_are_distinct(synthetic):
    """With one channel, each colour becomes a grey level of its own."""
    data = synthetic.SyntheticVQA(300, (96, 96), channels=1, seed=12)
    levels = {name: [] for name in synthetic.COLOURS}
    for index in range(len(data)):
        item = data[index]
        if item["answer_type"] == "other":
            (kind,) = [kind for kind in synthetic.VQA_SHAPES if kind in item["question"]]
            (level,) = [colour for found, colour in find_shapes(item["image"]) if found == kind]
            levels[item["answer"]].append(level.item())
    ranges = sorted((min(values), max(values)) for values in levels.values())
    assert all(high < next_low for (_, high), (next_low, _) in pairwise(ranges))


# --- learning ---------------------------------------------------------------------------------


def as_tensors(data) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = zip(*(data[i] for i in range(len(data))), strict=True)
    return torch.stack(images).float() / 255, torch.tensor(labels)


def train_and_evaluate(model: nn.Module, optimizer, train, val, epochs: int) -> float:
    images, labels = train
    for _ in range(epochs):
        model.train()
        for batch in torch.randperm(len(images)).split(64):
            loss = F.cross_entropy(model(images[batch]), labels[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    with torch.no_grad():
        return (model(val[0]).argmax(dim=1) == val[1]).float().mean().item()


@pytest.mark.slow
def test_small_cnn_learns_shapes(synthetic, two_threads):
    """Conv-BN-ReLU-pool twice and a linear layer: 3 epochs of 3000 RGB 32x32 images.

    With 5000 images (the default size) it reaches 99.8% or more; this keeps the test short.
    """
    torch.manual_seed(0)
    train = as_tensors(synthetic.SyntheticShapes(3000, 10, (32, 32), 3, seed=0))
    val = as_tensors(synthetic.SyntheticShapes(1000, 10, (32, 32), 3, seed=1))
    model = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 8 * 8, 10),
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    assert train_and_evaluate(model, optimizer, train, val, epochs=3) >= 0.9


@pytest.mark.slow
def test_lenet_learns_grey_shapes(synthetic, two_threads):
    """LeNet-5 on 1x32x32 grey images, normalised as a generated project does by default."""

    def normalised(data) -> tuple[torch.Tensor, torch.Tensor]:
        images, labels = as_tensors(data)
        return (images - 0.5) / 0.5, labels

    torch.manual_seed(0)
    train = normalised(synthetic.SyntheticShapes(5000, 10, (32, 32), 1, seed=0))
    val = normalised(synthetic.SyntheticShapes(1000, 10, (32, 32), 1, seed=1))
    model = nn.Sequential(
        nn.Conv2d(1, 6, 5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120),
        nn.ReLU(),
        nn.Linear(120, 84),
        nn.ReLU(),
        nn.Linear(84, 10),
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    assert train_and_evaluate(model, optimizer, train, val, epochs=5) >= 0.9


@pytest.mark.parametrize(
    "name, classes", [("lenet", 10), ("bcnn_vgg16", 10), ("resnet18", 10), ("vgg16", 10)]
)
def test_synthetic_data_keep_to_a_learnable_number_of_classes(name, classes, generated_root):
    """ImageNet's 1000 or CUB's 200 classes would leave a few images per class, told apart by
    narrow hue bands: the synthetic task stays at 10, and the model takes its classes from it."""
    dest, _ = project_for(name, generated_root)
    data = import_generated(dest, "data")
    config = {"synthetic": {"train_size": 20, "val_size": 10}, "image_size": [32, 32]}
    sets = data.load_datasets(None, {**config, "val_split": 0.1})
    assert len(sets.classes) == classes
    assert f"synthetic shapes, {classes} classes" in sets.description
