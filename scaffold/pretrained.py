"""`model.pretrained: torchvision/NAME`: whether the blueprint's model is exactly torchvision's, so
that its ImageNet weights load with every key and shape matching.

The model is compared with torchvision's architecture written as blueprint layers
(`presets.torchvision_reference`) and planned the same way: every module with parameters must have
the same state_dict name, kind and parameter count. ResNets get a message naming the stage.

A check of the model's domain that needs the plan, so scaffold/plan.py runs it once over the
finished plan, after the blueprint's own checks (scaffold/checks/).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from .blocks.base import Context, PretrainedLoad
from .blueprint import Blueprint, blueprint_from_data
from .errors import BlueprintError, ProblemCollector
from .presets import (
    TORCHVISION_HEADS,
    TORCHVISION_INPUT,
    TORCHVISION_OLD_KEYS,
    TORCHVISION_RESNETS,
    TORCHVISION_WEIGHTS,
    torchvision_layers,
    torchvision_reference,
)
from .shapes import Shape

PlanReference = Callable[[Blueprint, tuple[int, int]], Any]  # plan.build_plan


def check_model_pretrained(
    bp: Blueprint,
    ctx: Context,
    image_shape: Shape,
    problems: ProblemCollector,
    build_plan: PlanReference,
) -> None:
    """Record the weights to load, or the problem that keeps them from loading; `build_plan`
    plans torchvision's layout to compare (the planner passes itself: this module is below it)."""
    model = bp.model
    arch = model.pretrained.split("/", 1)[1]
    where = model.key_locations.get("pretrained", model.location)
    if arch not in TORCHVISION_HEADS:
        problems.add(
            where,
            "model.pretrained",
            f"whole-model weights are available for {', '.join(TORCHVISION_HEADS)}, not '{arch}'",
        )
        return
    for layer in model.layers or []:
        if getattr(layer, "pretrained", None):
            problems.add(
                where,
                "model.pretrained",
                f"{layer.path} loads weights of its own, and the whole model's include them",
                "remove one of the two `pretrained`",
            )
            return
    mismatch, left_out = _resnet_mismatch(bp, arch) if arch in TORCHVISION_RESNETS else "", ()
    if not mismatch:
        mismatch, left_out = _difference(bp, arch, ctx, image_shape, problems, build_plan)
        mismatch = mismatch or _input_difference(bp, arch)
    if mismatch:
        hint = f"make the model exactly {arch}"
        if _bundled(arch):
            hint += f" (see blueprints/{arch}.yaml)"
        problems.add(
            where,
            "model.pretrained",
            f"the layers do not match torchvision's {arch}: {mismatch}",
            hint + ", or remove `pretrained`",
        )
        return
    enum, member = TORCHVISION_WEIGHTS[arch]
    head, old_keys = TORCHVISION_HEADS[arch], TORCHVISION_OLD_KEYS.get(arch)
    aux_heads = tuple(_classifier(ctx, aux.name) for aux in ctx.auxiliary)
    ctx.pretrained.append(
        PretrainedLoad(arch, enum, member, "", "", head, left_out, old_keys, aux_heads)
    )


def _classifier(ctx: Context, name: str) -> str:
    """The module of an auxiliary head that gives its class scores (its last with parameters)."""
    inside = [r.module for r in _weighted_rows(ctx.rows) if r.module.startswith(name + ".")]
    return inside[-1] if inside else name


def _difference(
    bp: Blueprint,
    arch: str,
    ctx: Context,
    image_shape: Shape,
    problems: ProblemCollector,
    build_plan: PlanReference,
) -> tuple[str, tuple[str, ...]]:
    """The first module with parameters that differs from torchvision's `arch`, or ""; and the
    prefixes of the weights file's keys the model leaves out: the auxiliary heads of torchvision's
    model (its bundled blueprint's) that this one does not have, which serve only in training."""
    if bp.image.channels != 3:
        return "ImageNet weights expect 3 input channels", ()
    if not problems.problems and _plain_model(bp) and _is_reference_file(bp, arch):
        return "", ()  # the reference's own text (a bundled family blueprint): see below
    layers_and_blocks = torchvision_reference(arch)
    if not problems.problems and _is_reference(bp, layers_and_blocks):
        return "", ()  # torchvision's layout as written, heads and all: its walk gives these rows
    reference = blueprint_from_data(
        {
            "name": arch,
            "input": {"channels": 3, "height": image_shape.dims[1], "width": image_shape.dims[2]},
            "blocks": layers_and_blocks["blocks"],
            "model": {"layers": layers_and_blocks["layers"]},
            "data": {"classes": bp.num_classes},
            "train": {"epochs": 1},
        },
        f"<torchvision {arch}>",
    )
    try:
        their_plan = build_plan(reference, image_shape.dims[1:])
    except BlueprintError:
        return f"torchvision's {arch} does not work with {image_shape} inputs", ()
    own = {aux.name for aux in ctx.auxiliary}
    left_out = tuple(f"{a.name}." for a in their_plan.auxiliary if a.name not in own)
    theirs = [row for row in _weighted(their_plan.rows) if not row[0].startswith(left_out)]
    ours = _weighted(ctx.rows)
    return _first_difference(ours, theirs), left_out


def _first_difference(ours: list, theirs: list) -> str:
    for (module, kind, params), (their_module, their_kind, their_params) in zip(ours, theirs):
        if (module, kind, params) != (their_module, their_kind, their_params):
            return (
                f"torchvision's has {their_module} ({their_kind}, {their_params:,} parameters) "
                f"where this model has {module} ({kind}, {params:,} parameters)"
            )
    if len(theirs) > len(ours):
        module, kind, _ = theirs[len(ours)]
        return f"this model ends before torchvision's {module} ({kind})"
    if len(ours) > len(theirs):
        module, kind, _ = ours[len(theirs)]
        return f"torchvision's ends before this model's {module} ({kind})"
    return ""


def _is_reference(bp: Blueprint, layers_and_blocks: dict) -> bool:
    """Whether the model is the reference's layers and blocks exactly (the bundled family
    blueprints are torchvision's references themselves), value for value and type for type."""
    if not _plain_model(bp):
        return False
    raw = bp.raw.get("model") or {}
    return _same(raw.get("layers"), layers_and_blocks["layers"]) and _same(
        bp.raw.get("blocks") or {}, layers_and_blocks["blocks"]
    )


def _plain_model(bp: Blueprint) -> bool:
    """One image input and a list of layers, read from data (the form a reference has)."""
    model = bp.model
    return not (bp.is_vqa or model.image or model.question or model.head or bp.raw is None)


def _is_reference_file(bp: Blueprint, arch: str) -> bool:
    """Whether the blueprint was read from text identical to `arch`'s bundled reference
    (validating a bundled family blueprint, or a copy of it): the same text gives the same layers
    and blocks, so reading the reference again to compare them would find them equal."""
    if torchvision_layers(arch) is not None:  # a classic family's reference is written in Python
        return False
    from .resources import find_bundled

    reference = find_bundled(arch)
    if reference is None or bp.source.startswith("<"):
        return False
    try:
        return Path(bp.source).read_bytes() == reference.read_bytes()
    except OSError:
        return False


def _same(a, b) -> bool:
    """Equal plain data, without Python's 1 == 1.0 == True."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def _input_difference(bp: Blueprint, arch: str) -> str:
    """Whether the model's inputs are normalised as `arch`'s weights were trained, or "": with the
    data's `normalize`, or by a first `renormalize` layer (torchvision's transform_input)."""
    wanted = TORCHVISION_INPUT.get(arch)
    if wanted is None:
        return ""
    normalize = bp.data.normalize or "imagenet"  # the default for colour images
    if not isinstance(normalize, str):
        normalize = "{mean, std}"
    first = (bp.model.layers or [None])[0]
    if getattr(first, "KIND", "") == "renormalize":
        if first.target != wanted:
            return f"its weights take `{wanted}` inputs, but the first layer gives {first.target}"
        if first.source != normalize:
            return f"the first layer takes `{first.source}` inputs, but the data's are {normalize}"
        return ""
    if normalize == wanted:
        return ""
    return (
        f"its weights take `{wanted}` inputs, not {normalize}: start the layers with "
        f"`renormalize: {{source: {normalize}, target: {wanted}}}` (torchvision's transform_input)"
    )


def _weighted_rows(rows) -> list:
    return [r for r in rows if r.params and not r.group]


def _weighted(rows) -> list[tuple[str, str, int]]:
    return [(r.module, r.kind, r.params) for r in _weighted_rows(rows)]


def _bundled(arch: str) -> bool:
    """Whether a bundled blueprint of that name loads these weights (blueprints/vgg16.yaml is a
    CIFAR model, no example for torchvision's vgg16)."""
    from .resources import find_bundled

    path = find_bundled(arch)
    return path is not None and f"pretrained: torchvision/{arch}" in path.read_text("utf-8")


def _resnet_mismatch(bp: Blueprint, arch: str) -> str:
    """What differs between the blueprint's layers and torchvision's ResNet `arch`, or ""."""
    from .blocks.pool import AdaptiveAvgPool, GlobalAvgPool
    from .blocks.stage import Stage
    from .blocks.stem import Stem

    block, counts, groups, width = TORCHVISION_RESNETS[arch]
    expansion = 4 if block == "bottleneck" else 1
    layers = bp.model.layers or []
    kinds = [layer.KIND for layer in layers]
    if len(kinds) != 8:
        return (
            f"expected a stem, 4 stages, global_avgpool, flatten and linear; got {', '.join(kinds)}"
        )
    stem = layers[0]
    if not isinstance(stem, Stem) or stem.style != "imagenet" or stem.channels != 64:
        return "the stem must be `stem: {style: imagenet, channels: 64}`"
    for i, (stage, count) in enumerate(zip(layers[1:5], counts)):
        if not isinstance(stage, Stage):
            return f"layer {i + 1} must be a stage"
        expected = (block, count, 64 * 2**i * expansion, 1 if i == 0 else 2, "conv1x1", None)
        actual = (stage.block, stage.blocks, stage.channels, stage.stride, stage.shortcut, stage.se)
        grouping = (stage.groups, stage.width)
        if actual != expected or grouping != (groups, width):
            shape = ""
            if (groups, width) != (1, 64) or grouping != (1, 64):
                shape = f", groups {groups}, width {width}"
            return (
                f"stage {i + 1} must be {expected[0]} x{expected[1]} with {expected[2]} channels"
                f"{shape}, stride {expected[3]}, conv1x1 shortcut and no SE"
            )
        if stage.name and stage.name != f"layer{i + 1}":
            return f"stage {i + 1} must be named layer{i + 1}"
    if not isinstance(layers[5], (GlobalAvgPool, AdaptiveAvgPool)) or getattr(
        layers[5], "size", (1, 1)
    ) != (1, 1):
        return "the stages must be followed by global_avgpool"
    last = layers[7]
    if last.name not in (None, "fc"):
        return "the classifier must be named fc"
    if bp.image.channels != 3:
        return "ImageNet weights expect 3 input channels"
    return ""
