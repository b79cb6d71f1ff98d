"""Built-in synthetic shapes: a model learns something in minutes, with no download.

SyntheticShapes is an image classification task: which shape is in the picture. Items are drawn
on the fly with torch ops: item i is a pure function of (seed, i), so the same index gives the
same sample in every process, data loader worker and epoch.
"""

import colorsys
import hashlib
import math

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


def _shape_mask(shape: str, ys, xs, centre: tuple[float, float], radius: float, upright=False):
    """A boolean (H, W) mask of a shape within `radius` of its centre along each axis (ys: (H, 1)
    and xs: (1, W) pixel centres); `upright` turns an ellipse on its end."""
    u, v = (xs - centre[1]) / radius, (ys - centre[0]) / radius  # in units of the radius
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
    raise ValueError(f"unknown shape {shape!r}")


def _background(generator: torch.Generator, channels: int) -> torch.Tensor:
    """A random dark colour, as a (C, 1, 1) tensor."""
    return torch.rand(channels, 1, 1, generator=generator) * _BACKGROUND_MAX


def _noisy_uint8(image: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """The (C, H, W) image with Gaussian noise added, as uint8."""
    noise = torch.randn(image.shape, generator=generator).mul_(_NOISE_STD)
    return noise.add_(image).clamp_(0.0, 1.0).mul_(255.0).round_().to(torch.uint8)


def _check(size: int, image_size: tuple[int, int], channels: int) -> tuple[torch.Tensor, ...]:
    """The pixel-centre coordinates ys (H, 1) and xs (1, W), once the arguments are checked."""
    height, width = (int(n) for n in image_size)
    if size < 0:
        raise ValueError(f"size must not be negative, got {size}")
    if height < 8 or width < 8:
        raise ValueError(f"image_size must be at least 8x8, got {height}x{width}")
    if channels < 1:
        raise ValueError(f"channels must be at least 1, got {channels}")
    ys = torch.arange(height, dtype=torch.float32).add_(0.5).unsqueeze(1)
    return ys, torch.arange(width, dtype=torch.float32).add_(0.5).unsqueeze(0)


SHAPES = ("circle", "square", "triangle", "cross", "ring", "diamond", "frame", "ellipse")
_MIN_BRIGHTNESS = 0.4  # of shapes not in RGB; in RGB they are brighter
# The radius as a fraction of the smaller side, and how far the centre may move from the middle
# as a fraction of each side: large shapes that move little let LeNet-sized models (no padding,
# no batch norm) learn the task in a few epochs of 5000 images.
_RADIUS_RANGE, _MAX_SHIFT = (0.28, 0.36), 0.15


def shape_class_names(num_classes: int) -> list[str]:
    """The class names of SyntheticShapes: the shapes, and beyond 8 classes the shapes again in
    other colour families, class c called e.g. "circle 2" (shape c % 8, family c // 8 + 1)."""
    if num_classes < 2:
        raise ValueError(f"num_classes must be at least 2, got {num_classes}")
    if num_classes <= len(SHAPES):
        return list(SHAPES[:num_classes])
    return [f"{SHAPES[c % len(SHAPES)]} {c // len(SHAPES) + 1}" for c in range(num_classes)]


class SyntheticShapes(Dataset):
    """One shape per image on a dark noisy background; the class is the shape. Colour, size and
    position are random. Beyond 8 classes class c is shape c % 8 in colour family c // 8: the
    families split the hue range (brightness, for other than 3 channels) into separate bins.
    Items are (image, label): a uint8 (C, H, W) tensor and index % num_classes."""

    def __init__(self, size: int, num_classes: int, image_size, channels: int, seed: int = 0):
        self._ys, self._xs = _check(size, image_size, channels)
        self.classes = shape_class_names(num_classes)
        self.size, self.num_classes, self.channels, self.seed = size, num_classes, channels, seed
        self.height, self.width = self._ys.shape[0], self._xs.shape[1]
        self._families = math.ceil(num_classes / len(SHAPES))

    def __len__(self) -> int:
        return self.size

    def _colour(self, generator: torch.Generator, family: int) -> torch.Tensor:
        """A random colour of the family, as a (C,) tensor: with several families, from the
        middle half of its bin, so that neighbouring families stay clearly apart."""
        margin = 0.25 if self._families > 1 else 0.0
        position = (family + _uniform(generator, margin, 1.0 - margin)) / self._families
        if self.channels == 3:
            saturation, value = _uniform(generator, 0.65, 1.0), _uniform(generator, 0.8, 1.0)
            return torch.tensor(colorsys.hsv_to_rgb(position, saturation, value))
        brightness = _MIN_BRIGHTNESS + (1.0 - _MIN_BRIGHTNESS) * position
        # a random tint whose brightest channel carries the family: one channel is plain grey
        tint = torch.rand(self.channels, generator=generator) * 0.7 + 0.3
        return tint / tint.max() * brightness

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        if not 0 <= index < self.size:
            raise IndexError(f"index {index} out of range for {self.size} items")
        label, generator = index % self.num_classes, _generator("shapes", self.seed, index)
        colour = self._colour(generator, label // len(SHAPES))
        radius = _uniform(generator, *_RADIUS_RANGE) * min(self.height, self.width)
        shift_y = min(self.height / 2 - radius, _MAX_SHIFT * self.height)  # the shape stays inside
        shift_x = min(self.width / 2 - radius, _MAX_SHIFT * self.width)
        centre = (
            self.height / 2 + _uniform(generator, -shift_y, shift_y),
            self.width / 2 + _uniform(generator, -shift_x, shift_x),
        )
        upright = _uniform(generator, 0.0, 1.0) < 0.5
        mask = _shape_mask(SHAPES[label % len(SHAPES)], self._ys, self._xs, centre, radius, upright)
        image = torch.where(mask, colour[:, None, None], _background(generator, self.channels))
        return _noisy_uint8(image, generator), label
