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
