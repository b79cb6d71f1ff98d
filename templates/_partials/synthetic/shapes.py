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
