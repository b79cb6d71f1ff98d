"""Built-in synthetic questions about shapes: a model learns something in minutes, with no download.

SyntheticVQA draws 1 to 4 coloured shapes and asks about their colours, presence and counts. Items
are drawn on the fly with torch ops: item i is a pure function of (seed, i), so the same index
gives the same sample in every process, data loader worker and epoch.
"""

import hashlib

import torch
from torch.utils.data import Dataset

# Intensities are in 0..1. Backgrounds are at most _BACKGROUND_MAX plus noise: shapes stand out.
_BACKGROUND_MAX, _NOISE_STD = 0.1, 0.05


def _generator(kind: str, seed: int, index: int) -> torch.Generator:
    """The random number generator of one item, a function of its arguments only: a hash, so that
    nearby (seed, index) pairs give unrelated items (4 bytes: the CPU generator keeps 32 bits)."""
    digest = hashlib.blake2b(f"{kind}:{seed}:{index}".encode(), digest_size=4).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest, "little"))


def _uniform(generator: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * torch.rand((), generator=generator).item()


def _background(generator: torch.Generator, channels: int) -> torch.Tensor:
    """A random dark colour, as a (C, 1, 1) tensor."""
    return torch.rand(channels, 1, 1, generator=generator) * _BACKGROUND_MAX


def _noisy_uint8(image: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """The (C, H, W) image with Gaussian noise added, as uint8."""
    noise = torch.randn(image.shape, generator=generator).mul_(_NOISE_STD)
    return noise.add_(image).clamp_(0.0, 1.0).mul_(255.0).round_().to(torch.uint8)


def _pixel_centres(height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The pixel-centre coordinates ys (H, 1) and xs (1, W)."""
    ys = torch.arange(height, dtype=torch.float32).add_(0.5).unsqueeze(1)
    return ys, torch.arange(width, dtype=torch.float32).add_(0.5).unsqueeze(0)


# The shapes shape_mask draws.
SHAPES = "circle square triangle cross ring diamond frame ellipse hourglass semicircle".split()


def shape_mask(shape: str, u: torch.Tensor, v: torch.Tensor, upright: bool = False) -> torch.Tensor:
    """A boolean mask of a shape centred at u = v = 0, in units of its radius (u: (1, W) across,
    v: (H, 1) down); `upright` turns an ellipse on its end."""
    if shape in ("circle", "ring"):
        squared = u * u + v * v
        return (squared <= 1.0) if shape == "circle" else (squared <= 1.0) & (squared >= 0.36)
    if shape in ("square", "frame"):  # squares a little smaller: about a circle's area
        box = torch.maximum(u.abs(), v.abs())
        return (box <= 0.8) if shape == "square" else (box <= 0.85) & (box >= 0.45)
    if shape == "triangle":  # apex up, base a little above the bottom of the circle
        return (v <= 0.75) & (u.abs() <= (v + 1.0) / 1.75)
    if shape == "cross":
        return ((u.abs() <= 0.3) & (v.abs() <= 1.0)) | ((v.abs() <= 0.3) & (u.abs() <= 1.0))
    if shape == "diamond":
        return u.abs() + v.abs() <= 1.0
    if shape == "ellipse":
        return (v * v + 4.0 * u * u <= 1.0) if upright else (u * u + 4.0 * v * v <= 1.0)
    if shape == "hourglass":  # two triangles, apex to apex
        return (v.abs() <= 0.9) & (u.abs() <= 0.9 * v.abs() + 0.1)
    return (u * u + v * v <= 1.0) & (v >= 0.0)  # semicircle: the lower half of a circle


# Clearly distinct colours, as 0..255 RGB.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 190, 60),
    "blue": (50, 90, 235),
    "yellow": (230, 210, 40),
    "purple": (160, 60, 200),
    "white": (235, 235, 235),
}

VQA_SHAPES = SHAPES[:3]  # circle, square, triangle

# Every answer SyntheticVQA can give.
VQA_ANSWERS: tuple[str, ...] = ("yes", "no", "0", "1", "2", "3", *COLOURS)


def _randint(generator: torch.Generator, low: int, high: int) -> int:
    """A random integer in [low, high], both included."""
    return int(torch.randint(low, high + 1, (), generator=generator))


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
    scene += [(others[_randint(generator, 0, 1)], random_colour()) for _ in range(total - count)]
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

    def __init__(self, size: int, image_size, channels: int = 3, seed: int = 0) -> None:
        self.size, self.channels, self.seed = size, channels, seed
        self.height, self.width = image_size
        self._ys, self._xs = _pixel_centres(self.height, self.width)
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
        image = _background(generator, self.channels).expand(self.channels, self.height, self.width)
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
            u, v = (self._xs - centre[1]) / radius, (self._ys - centre[0]) / radius
            mask = shape_mask(shape, u, v)
            colour = self._colours[colour_name] * _uniform(generator, 0.9, 1.0)
            image = torch.where(mask, colour[:, None, None], image)
        return {"image": _noisy_uint8(image, generator), **text}
