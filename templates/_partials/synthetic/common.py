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
