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
    if shape == "hourglass":  # two triangles, apex to apex
        return (v.abs() <= 0.9) & (u.abs() <= 0.9 * v.abs() + 0.1)
    if shape == "semicircle":  # the lower half of a circle
        return (u * u + v * v <= 1.0) & (v >= 0.0)
    raise ValueError(f"unknown shape {shape!r}")


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
