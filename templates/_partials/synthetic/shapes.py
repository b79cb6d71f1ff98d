# One shape per class: the synthetic task keeps to at most ten classes.
SHAPES = (
    "circle", "square", "triangle", "cross", "ring", "diamond", "frame", "ellipse", "hourglass",
    "semicircle",
)  # fmt: skip
# The radius as a fraction of the smaller side, and how far the centre may move from the middle
# as a fraction of each side: large shapes that move little let LeNet-sized models (no padding,
# no batch norm) learn the task in a few epochs of 5000 images.
_RADIUS_RANGE, _MAX_SHIFT = (0.28, 0.36), 0.15


def _colour(generator: torch.Generator, channels: int) -> torch.Tensor:
    """A random bright colour, as a (C,) tensor: any hue in RGB, else a tinted grey of random
    brightness (one channel plain grey). Colour never gives the class away."""
    if channels == 3:
        hue, saturation = _uniform(generator, 0.0, 1.0), _uniform(generator, 0.65, 1.0)
        return torch.tensor(colorsys.hsv_to_rgb(hue, saturation, _uniform(generator, 0.8, 1.0)))
    tint = torch.rand(channels, generator=generator) * 0.7 + 0.3
    return tint / tint.max() * _uniform(generator, 0.4, 1.0)


class SyntheticShapes(Dataset):
    """One shape per image on a dark noisy background; the class is the shape, one of the first
    `num_classes` SHAPES. Colour, size and position are random. Items are (image, label): a uint8
    (C, H, W) tensor and index % num_classes."""

    def __init__(self, size: int, num_classes: int, image_size, channels: int, seed: int = 0):
        self.classes = list(SHAPES[:num_classes])
        self.size, self.num_classes, self.channels, self.seed = size, num_classes, channels, seed
        self.height, self.width = image_size
        self._ys, self._xs = _pixel_centres(self.height, self.width)

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        if not 0 <= index < self.size:
            raise IndexError(f"index {index} out of range for {self.size} items")
        label, generator = index % self.num_classes, _generator("shapes", self.seed, index)
        colour = _colour(generator, self.channels)
        radius = _uniform(generator, *_RADIUS_RANGE) * min(self.height, self.width)
        shift_y = min(self.height / 2 - radius, _MAX_SHIFT * self.height)  # the shape stays inside
        shift_x = min(self.width / 2 - radius, _MAX_SHIFT * self.width)
        centre = (
            self.height / 2 + _uniform(generator, -shift_y, shift_y),
            self.width / 2 + _uniform(generator, -shift_x, shift_x),
        )
        upright = _uniform(generator, 0.0, 1.0) < 0.5
        mask = _shape_mask(SHAPES[label], self._ys, self._xs, centre, radius, upright)
        image = torch.where(mask, colour[:, None, None], _background(generator, self.channels))
        return _noisy_uint8(image, generator), label
