"""Built-in synthetic shapes: a model learns something in minutes, with no download. Item i is a
pure function of (seed, i): the same sample in every process, loader worker and epoch."""

import colorsys
import hashlib

import torch
from torch.utils.data import Dataset

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


class SyntheticShapes(Dataset):
    """One shape per image on a dark noisy background; the class is the shape, one of the first
    `num_classes` SHAPES. Colour, size and position are random. Items are (image, label): a uint8
    (C, H, W) tensor and index % num_classes."""

    def __init__(self, size: int, num_classes: int, image_size, channels: int, seed: int = 0):
        self.classes = list(SHAPES[:num_classes])
        self.size, self.num_classes, self.channels, self.seed = size, num_classes, channels, seed
        self.height, self.width = image_size
        self.ys = torch.arange(self.height, dtype=torch.float32).add_(0.5).unsqueeze(1)
        self.xs = torch.arange(self.width, dtype=torch.float32).add_(0.5).unsqueeze(0)

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        if not 0 <= index < self.size:
            raise IndexError(f"index {index} out of range for {self.size} items")
        # a hash: nearby (seed, index) pairs give unrelated items (4 bytes: the generator keeps 32)
        digest = hashlib.blake2b(f"shapes:{self.seed}:{index}".encode(), digest_size=4).digest()
        generator = torch.Generator().manual_seed(int.from_bytes(digest, "little"))

        def uniform(low: float, high: float) -> float:
            return low + (high - low) * torch.rand((), generator=generator).item()

        if self.channels == 3:  # bright, any hue: colour never gives the class away
            hsv = uniform(0, 1), uniform(0.65, 1), uniform(0.8, 1)
            colour = torch.tensor(colorsys.hsv_to_rgb(*hsv))
        else:  # a tinted grey of random brightness (one channel: plain grey)
            tint = torch.rand(self.channels, generator=generator) * 0.7 + 0.3
            colour = tint / tint.max() * uniform(0.4, 1.0)
        # large shapes that move little: LeNet-sized models learn them in a few epochs
        radius = uniform(0.28, 0.36) * min(self.height, self.width)
        shift_y = min(self.height / 2 - radius, 0.15 * self.height)  # the shape stays inside
        shift_x = min(self.width / 2 - radius, 0.15 * self.width)
        y = self.height / 2 + uniform(-shift_y, shift_y)
        x = self.width / 2 + uniform(-shift_x, shift_x)
        u, v = (self.xs - x) / radius, (self.ys - y) / radius
        label = index % self.num_classes
        mask = shape_mask(SHAPES[label], u, v, upright=uniform(0, 1) < 0.5)
        background = torch.rand(self.channels, 1, 1, generator=generator) * 0.1  # dark
        image = torch.where(mask, colour[:, None, None], background)
        noise = torch.randn(image.shape, generator=generator).mul_(0.05)
        return noise.add_(image).clamp_(0.0, 1.0).mul_(255.0).round_().to(torch.uint8), label
