"""The generated model's training step on the CPU against torchvision's same model (issue 24).

    python benchmarks/bench_families.py [ARCH ...] [--repeats 5] [--threads N]

For vit_b_16, convnext_tiny, efficientnet_b0 and swin_t (or the ARCHs given), the bundled
blueprint `blueprints/ARCH.yaml` is rendered to its model.py as a generated project gets it (the
template's model.py.jinja, without writing a project) and run next to
`torchvision.models.get_model(ARCH)`, in this process, holding the same weights: one training
step each is forward and backward of a cross-entropy loss on a batch of 2 at the blueprint's
image size, in training mode. After one warm-up step of each, the two take turns `--repeats`
times (the first of each pair alternating), so that a slower moment of the machine falls on both.
One line per model: the median seconds per step of each, and the generated model's speed as a
ratio of torchvision's (the goal: at least 0.95x). An ARCH without a bundled blueprint yet is
skipped, with a note.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ARCHS = ["vit_b_16", "convnext_tiny", "efficientnet_b0", "swin_t"]


def generated_model_class(blueprint_path: Path):
    """The model class of the blueprint's generated model.py, and the plan (input shape)."""
    sys.path.insert(0, str(REPO))
    from jinja2 import Environment, FileSystemLoader

    from scaffold.blueprint import load_blueprint
    from scaffold.jinja_ext import ScaffoldContext, ScaffoldExtension
    from scaffold.plan import build_plan

    blueprint = load_blueprint(blueprint_path)
    plan = build_plan(blueprint)
    environment = Environment(
        loader=FileSystemLoader(str(REPO / "templates")),
        extensions=[ScaffoldExtension, ScaffoldContext],
        keep_trailing_newline=True,
    )
    template = environment.get_template("{{ package_name }}/model.py.jinja")
    package = blueprint.name
    code = template.render(blueprint=blueprint.raw, package_name=package, _copier_conf={})
    namespace = {"__name__": f"{package}.model"}
    exec(compile(code, f"{package}/model.py", "exec"), namespace)
    return namespace[plan.class_name], plan


def step_seconds(model, x, y) -> float:
    import torch.nn.functional as F

    start = time.perf_counter()
    model.zero_grad(set_to_none=True)
    F.cross_entropy(model(x), y).backward()
    return time.perf_counter() - start


def compare(arch: str, repeats: int) -> str:
    import torch
    import torchvision

    path = REPO / "blueprints" / f"{arch}.yaml"
    if not path.is_file():
        return f"{arch}: skipped, no blueprints/{arch}.yaml yet"
    model_class, plan = generated_model_class(path)
    torch.manual_seed(0)
    theirs = torchvision.models.get_model(arch, weights=None).train()
    ours = model_class(num_classes=1000)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    ours.train()
    shape = plan.input_shapes["image"].dims
    x = torch.randn(2, *shape)
    y = torch.randint(0, 1000, (2,))
    step_seconds(ours, x, y), step_seconds(theirs, x, y)  # warm-up: allocator, kernels
    times: dict[str, list[float]] = {"ours": [], "theirs": []}
    for i in range(repeats):
        pair = [("ours", ours), ("theirs", theirs)]
        for name, model in pair if i % 2 == 0 else pair[::-1]:
            times[name].append(step_seconds(model, x, y))
    ours_s, theirs_s = statistics.median(times["ours"]), statistics.median(times["theirs"])
    return (
        f"{arch}: generated {ours_s:.3f} s/step, torchvision {theirs_s:.3f} s/step: "
        f"{theirs_s / ours_s:.2f}x torchvision's speed (forward + backward, batch 2, "
        f"{'x'.join(map(str, shape))}, median of {repeats})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("archs", nargs="*", default=ARCHS, help=f"default: {' '.join(ARCHS)}")
    parser.add_argument("--repeats", type=int, default=5, help="timed steps of each model")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    args = parser.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}"
    )
    for arch in args.archs:
        print(compare(arch, args.repeats), flush=True)


if __name__ == "__main__":
    main()
