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
