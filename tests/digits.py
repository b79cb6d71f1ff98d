"""Real small images for tests: scikit-learn's load_digits (1,797 handwritten 8x8 digits, no
download), as a folder of PNGs or as tensors."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import torch


@cache
def digit_images(size: int = 16, channels: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """The digits as uint8 images (N, channels, size, size), and their labels."""
    import torch.nn.functional as F
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = torch.tensor(digits.images, dtype=torch.float32)[:, None] / 16
    images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
    images = (images.clamp(0, 1) * 255).round().to(torch.uint8)
    return images.repeat(1, channels, 1, 1), torch.tensor(digits.target)


def digits_folder(root: Path, size: int = 16, channels: int = 1, count: int | None = None) -> Path:
    """ROOT/train/DIGIT/*.png and ROOT/val/DIGIT/*.png (every fifth digit), `count` digits or all."""
    from torchvision.io import write_png

    images, labels = digit_images(size, channels)
    for i in range(count or len(labels)):
        folder = root / ("val" if i % 5 == 0 else "train") / str(int(labels[i]))
        folder.mkdir(parents=True, exist_ok=True)
        write_png(images[i], str(folder / f"{i:04d}.png"))
    return root
