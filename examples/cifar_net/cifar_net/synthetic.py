"""Built-in synthetic data sets: a model learns something in a minute with no download.

SyntheticShapes is an image classification task (which shape is in the picture) and
SyntheticVQA a visual question answering one (colours, presence and counts of shapes).
Both are drawn on the fly with torch ops: item i is a pure function of (seed, i), so the
same index gives the same sample in every process, data loader worker and epoch.
"""

import colorsys
import hashlib
import math

import torch
from torch.utils.data import Dataset

SHAPES: tuple[str, ...] = (
    "circle",
    "square",
    "triangle",
    "cross",
    "ring",
    "diamond",
    "frame",
    "ellipse",
)

# Clearly distinct colours, as 0..255 RGB.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 190, 60),
    "blue": (50, 90, 235),
    "yellow": (230, 210, 40),
    "purple": (160, 60, 200),
    "white": (235, 235, 235),
}

VQA_SHAPES: tuple[str, ...] = ("circle", "square", "triangle")

# Every answer SyntheticVQA can give.
VQA_ANSWERS: tuple[str, ...] = ("yes", "no", "0", "1", "2", "3", *COLOURS)

# Intensities are in 0..1. Backgrounds are at most _BACKGROUND_MAX plus noise, so that
# shapes stand out: those not in RGB are at least _MIN_BRIGHTNESS, in RGB brighter.
_MIN_BRIGHTNESS = 0.4
_BACKGROUND_MAX = 0.1
_NOISE_STD = 0.05

# SyntheticShapes: the radius as a fraction of the smaller side, and how far the centre
# may move from the middle of the image as a fraction of each side. Larger shapes that
# move less are what let LeNet-sized models (no padding, no batch norm) learn the task
# in a few epochs of 5000 images; each doubling of the freedom costs epochs.
_RADIUS_RANGE = (0.28, 0.36)
_MAX_SHIFT = 0.15


def shape_class_names(num_classes: int) -> list[str]:
    """Class names for SyntheticShapes with num_classes classes (at least 2).

    The shape names when there are at most 8 classes; beyond that the shapes repeat in
    several colour families, so class c is called e.g. "circle 2" (shape c % 8, family
    c // 8 counted from 1).
    """
    if num_classes < 2:
        raise ValueError(f"num_classes must be at least 2, got {num_classes}")
    if num_classes <= len(SHAPES):
        return list(SHAPES[:num_classes])
    return [
        f"{SHAPES[c % len(SHAPES)]} {c // len(SHAPES) + 1}" for c in range(num_classes)
    ]


def _generator(kind: str, seed: int, index: int) -> torch.Generator:
    """The random number generator of one item, a function of its arguments only."""
    # A hash rather than e.g. seed * big + index, so that nearby (seed, index) pairs
    # give unrelated items. Four bytes, since the CPU generator keeps only 32 bits of
    # its seed anyway.
    digest = hashlib.blake2b(f"{kind}:{seed}:{index}".encode(), digest_size=4).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest, "little"))


def _uniform(generator: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * torch.rand((), generator=generator).item()


def _randint(generator: torch.Generator, low: int, high: int) -> int:
    """A random integer in [low, high], both included."""
    return int(torch.randint(low, high + 1, (), generator=generator))


def _grid(height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel-centre coordinates: ys of shape (H, 1) and xs of shape (1, W)."""
    ys = torch.arange(height, dtype=torch.float32).add_(0.5).unsqueeze(1)
    xs = torch.arange(width, dtype=torch.float32).add_(0.5).unsqueeze(0)
    return ys, xs


def _shape_mask(
    shape: str,
    ys: torch.Tensor,
    xs: torch.Tensor,
    centre: tuple[float, float],
    radius: float,
    upright: bool = False,
) -> torch.Tensor:
    """A boolean (H, W) mask of a shape within `radius` of its centre along each axis.

    A centre at least `radius` from every border keeps the shape fully visible.
    `upright` turns an ellipse on its end; the other shapes ignore it.
    """
    # Coordinates in units of the radius: (1, W) and (H, 1), broadcast to (H, W) below.
    u = (xs - centre[1]) / radius
    v = (ys - centre[0]) / radius
    if shape in ("circle", "ring"):
        squared = u * u + v * v
        if shape == "circle":
            return squared <= 1.0
        return (squared <= 1.0) & (squared >= 0.36)
    if shape in ("square", "frame"):
        # Squares are a little smaller than circles so that both cover similar areas.
        box = torch.maximum(u.abs(), v.abs())
        if shape == "square":
            return box <= 0.8
        return (box <= 0.85) & (box >= 0.45)
    if shape == "triangle":
        # Apex up, base a little above the bottom of the circle: it looks balanced.
        return (v <= 0.75) & (u.abs() <= (v + 1.0) / 1.75)
    if shape == "cross":
        return ((u.abs() <= 0.3) & (v.abs() <= 1.0)) | (
            (v.abs() <= 0.3) & (u.abs() <= 1.0)
        )
    if shape == "diamond":
        return u.abs() + v.abs() <= 1.0
    if shape == "ellipse":
        if upright:
            u, v = v, u
        return u * u + 4.0 * v * v <= 1.0
    raise ValueError(f"unknown shape {shape!r}")


def _background_level(generator: torch.Generator, channels: int) -> torch.Tensor:
    """A random dark colour, as a (C, 1, 1) tensor in 0..1."""
    return torch.rand(channels, 1, 1, generator=generator) * _BACKGROUND_MAX


def _add_noise_to_uint8(
    image: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """The (C, H, W) float image in 0..1 with Gaussian noise added, as uint8."""
    noise = torch.randn(image.shape, generator=generator).mul_(_NOISE_STD)
    return noise.add_(image).clamp_(0.0, 1.0).mul_(255.0).round_().to(torch.uint8)


def _check_image_args(image_size: tuple[int, int], channels: int) -> tuple[int, int]:
    height, width = (int(n) for n in image_size)
    if height < 8 or width < 8:
        raise ValueError(f"image_size must be at least 8x8, got {height}x{width}")
    if channels < 1:
        raise ValueError(f"channels must be at least 1, got {channels}")
    return height, width


class SyntheticShapes(Dataset):
    """One shape per image on a dark noisy background; the class is the shape.

    Colour, size and position are random. With more than 8 classes the shapes repeat:
    class c is shape c % 8 in colour family c // 8, where the families split the hue
    range (the brightness range for other than 3 channels) into separate bins.
    Items are (image, label): a uint8 (channels, H, W) tensor and an int. The label is
    index % num_classes, so every class is equally common.
    """

    def __init__(
        self,
        size: int,
        num_classes: int,
        image_size: tuple[int, int],
        channels: int,
        seed: int = 0,
    ) -> None:
        if size < 0:
            raise ValueError(f"size must not be negative, got {size}")
        if num_classes < 2:
            raise ValueError(f"num_classes must be at least 2, got {num_classes}")
        self.size = size
        self.num_classes = num_classes
        self.height, self.width = _check_image_args(image_size, channels)
        self.channels = channels
        self.seed = seed
        self.classes = shape_class_names(num_classes)
        self._families = math.ceil(num_classes / len(SHAPES))
        self._ys, self._xs = _grid(self.height, self.width)

    def __len__(self) -> int:
        return self.size

    def _colour(self, generator: torch.Generator, family: int) -> torch.Tensor:
        """A random colour of the family, as a (C,) tensor in 0..1."""
        # With several families only the middle half of each bin is used, so that
        # neighbouring families stay clearly apart.
        margin = 0.25 if self._families > 1 else 0.0
        position = (family + _uniform(generator, margin, 1.0 - margin)) / self._families
        if self.channels == 3:
            saturation = _uniform(generator, 0.65, 1.0)
            value = _uniform(generator, 0.8, 1.0)
            return torch.tensor(colorsys.hsv_to_rgb(position, saturation, value))
        brightness = _MIN_BRIGHTNESS + (1.0 - _MIN_BRIGHTNESS) * position
        # Other channel counts get a random tint whose brightest channel carries the
        # family, so that a single channel is plain grey.
        tint = torch.rand(self.channels, generator=generator) * 0.7 + 0.3
        return tint / tint.max() * brightness

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        if not 0 <= index < self.size:
            raise IndexError(f"index {index} out of range for {self.size} items")
        label = index % self.num_classes
        generator = _generator("shapes", self.seed, index)
        shape = SHAPES[label % len(SHAPES)]
        colour = self._colour(generator, label // len(SHAPES))
        radius = _uniform(generator, *_RADIUS_RANGE) * min(self.height, self.width)
        # The min() keeps the largest shapes inside the image.
        shift_y = min(self.height / 2 - radius, _MAX_SHIFT * self.height)
        shift_x = min(self.width / 2 - radius, _MAX_SHIFT * self.width)
        centre = (
            self.height / 2 + _uniform(generator, -shift_y, shift_y),
            self.width / 2 + _uniform(generator, -shift_x, shift_x),
        )
        upright = _uniform(generator, 0.0, 1.0) < 0.5
        mask = _shape_mask(shape, self._ys, self._xs, centre, radius, upright)
        background = _background_level(generator, self.channels)
        image = torch.where(mask, colour[:, None, None], background)
        return _add_noise_to_uint8(image, generator), label


def _vqa_colour(name: str, channels: int) -> torch.Tensor:
    """COLOURS[name] as a (C,) tensor in 0..1 for any channel count."""
    rgb = [c / 255.0 for c in COLOURS[name]]
    # Distinct grey levels, in the order of COLOURS, where RGB cannot be used.
    grey = 0.35 + 0.65 * list(COLOURS).index(name) / (len(COLOURS) - 1)
    if channels == 3:
        return torch.tensor(rgb)
    if channels < 3:
        return torch.full((channels,), grey)
    return torch.tensor(rgb + [grey] * (channels - 3))


def _question_and_scene(
    generator: torch.Generator,
) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """A SyntheticVQA question and its scene: a (shape, colour name) pair per shape."""
    colour_names = list(COLOURS)

    def random_colour() -> str:
        return colour_names[_randint(generator, 0, len(colour_names) - 1)]

    # The answer is chosen first and the scene built to match, which keeps the
    # answers balanced; every answer still follows from the image alone. `total`
    # shapes, `count` of them the subject of the question.
    subject = VQA_SHAPES[_randint(generator, 0, len(VQA_SHAPES) - 1)]
    question_type = ("colour", "exists", "count")[_randint(generator, 0, 2)]
    if question_type == "colour":
        answer = random_colour()
        scene = [(subject, answer)]
        count, total = 1, _randint(generator, 1, 4)
        question, answer_type = f"what colour is the {subject}?", "other"
    else:
        if question_type == "exists":
            present = _randint(generator, 0, 1) == 1
            total = _randint(generator, 1, 4)
            count = _randint(generator, 1, total) if present else 0
            answer = "yes" if present else "no"
            question, answer_type = f"is there a {subject}?", "yes/no"
        else:
            count = _randint(generator, 0, 3)
            total = _randint(generator, max(count, 1), 4)
            answer = str(count)
            question, answer_type = f"how many {subject}s are there?", "number"
        scene = [(subject, random_colour()) for _ in range(count)]
    others = [shape for shape in VQA_SHAPES if shape != subject]
    scene += [
        (others[_randint(generator, 0, 1)], random_colour())
        for _ in range(total - count)
    ]
    text = {"question": question, "answer": answer, "answer_type": answer_type}
    return text, scene


class SyntheticVQA(Dataset):
    """Images of 1 to 4 coloured shapes with a question about them and its answer.

    The shapes (VQA_SHAPES in COLOURS) sit in distinct cells of a 3x3 grid, so they
    never overlap. Questions, each type equally likely:
      "what colour is the circle?"     a colour name; asked of a shape seen just once;
      "is there a square?"             "yes" or "no", each half the time;
      "how many triangles are there?"  "0" to "3", equally likely.
    Items are dicts: image (uint8 (channels, H, W)), question, answer and answer_type
    ("other", "yes/no" or "number"); text(index) gives the last three alone, quickly.
    """

    def __init__(
        self,
        size: int,
        image_size: tuple[int, int],
        channels: int = 3,
        seed: int = 0,
    ) -> None:
        if size < 0:
            raise ValueError(f"size must not be negative, got {size}")
        self.size = size
        self.height, self.width = _check_image_args(image_size, channels)
        self.channels = channels
        self.seed = seed
        self._ys, self._xs = _grid(self.height, self.width)
        self._colours = {name: _vqa_colour(name, channels) for name in COLOURS}

    def __len__(self) -> int:
        return self.size

    def _check_index(self, index: int) -> None:
        if not 0 <= index < self.size:
            raise IndexError(f"index {index} out of range for {self.size} items")

    def text(self, index: int) -> dict[str, str]:
        """The question, answer and answer_type of item `index`, without its image."""
        self._check_index(index)
        text, _ = _question_and_scene(_generator("vqa", self.seed, index))
        return text

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | str]:
        self._check_index(index)
        generator = _generator("vqa", self.seed, index)
        text, scene = _question_and_scene(generator)
        image = _background_level(generator, self.channels).expand(
            self.channels, self.height, self.width
        )
        cell_height, cell_width = self.height / 3, self.width / 3
        # Distinct cells of a 3x3 grid (at most 4 of 9 are used): no overlaps.
        cells = torch.randperm(9, generator=generator).tolist()[: len(scene)]
        for cell, (shape, colour_name) in zip(cells, scene, strict=True):
            radius = _uniform(generator, 0.28, 0.4) * min(cell_height, cell_width)
            # A margin of 5% of the cell keeps shapes in neighbouring cells apart.
            reach_y, reach_x = radius + 0.05 * cell_height, radius + 0.05 * cell_width
            top, left = (cell // 3) * cell_height, (cell % 3) * cell_width
            centre = (
                top + _uniform(generator, reach_y, cell_height - reach_y),
                left + _uniform(generator, reach_x, cell_width - reach_x),
            )
            mask = _shape_mask(shape, self._ys, self._xs, centre, radius)
            colour = self._colours[colour_name] * _uniform(generator, 0.9, 1.0)
            image = torch.where(mask, colour[:, None, None], image)
        return {"image": _add_noise_to_uint8(image, generator), **text}
