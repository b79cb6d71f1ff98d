"""The model plan: names, shapes, parameter counts and generated code, from one walk over the blueprint.

`build_plan(blueprint)` walks the layers in order, as the generated `forward` will run them, and
hands each to its unit (scaffold/blocks/): the unit checks its input shape, computes its output
shape, parameters and multiply-adds, and records its modules and forward steps as typed code.
The walk itself holds what no single block decides: the branches of a two-input model and where
they meet, the model's output, the training phases' module names, whole-model pretrained
weights, and the search for the image sizes the model accepts. `scaffold inspect` prints the
rows; model.py prints `plan.code`. Nothing here imports torch.

The blueprint's checks that need the plan are here, in the model's domain, and run after
scaffold/checks/ (those of the blueprint alone): the class name against the names model.py binds,
the helpers' names, the output, the phases' module names, each training feature's `check_plan`
(its unit's), and the whole-model weights of `model.pretrained` (scaffold/pretrained.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

from .blocks.base import DEFINED, AuxiliaryHead, Context, Layer, PretrainedLoad, Row, ShapeError
from .blocks.emit import (
    IMPORTS,
    Assign,
    BinOp,
    Constant,
    Expr,
    Forward,
    Fragment,
    ModelCode,
    Var,
)
from .blueprint import Blueprint
from .errors import BlueprintError, ProblemCollector
from .features import FEATURES
from .names import class_name_problem
from .pretrained import check_model_pretrained
from .shapes import Shape, image, tokens
from .spec import did_you_mean

__all__ = ["ModelPlan", "PretrainedLoad", "Row", "build_plan"]


@dataclass
class ModelPlan:
    class_name: str
    description: str
    input_shapes: dict[str, Shape]
    output_shape: Shape
    num_classes: int
    vocab_size: int | None
    rows: list[Row]
    module_names: list[str]  # top-level attributes that hold parameters, in order
    pretrained: list[PretrainedLoad]
    init_weights: bool
    is_vqa: bool
    # the auxiliary heads: in training the model returns their scores too
    auxiliary: list[AuxiliaryHead] = field(default_factory=list)
    # the code, as typed values (printed by `code`)
    modules: list[tuple[str, Expr]] = field(default_factory=list, repr=False)
    statements: list[Assign] = field(default_factory=list, repr=False)
    fragments: list[tuple[Fragment, frozenset[str]]] = field(default_factory=list, repr=False)
    constants: list[Constant] = field(default_factory=list, repr=False)
    constants_comment: str = ""
    # whether the model works at other image sizes and the smallest it takes: planned again at
    # other sizes only when asked (`validate` never asks)
    size_probe: Callable[[ModelPlan], tuple[bool, int]] | None = field(default=None, repr=False)

    @cached_property
    def _size_freedom(self) -> tuple[bool, int]:
        return self.size_probe(self) if self.size_probe else (False, 1)

    @property
    def size_agnostic(self) -> bool:
        """Whether the model works at other image sizes with the same weights (global pooling,
        bilinear pooling, attention)."""
        return self._size_freedom[0]

    @property
    def min_image_size(self) -> int:
        """The smallest square image size the model accepts."""
        return self._size_freedom[1]

    @property
    def first_module(self) -> Row:
        """The first layer the image goes through (a feature cache keeps its outputs)."""
        return self.rows[0]

    @property
    def total_params(self) -> int:
        return sum(r.params for r in self.rows if not r.group)

    @property
    def total_macs(self) -> int:
        return sum(r.macs for r in self.rows if not r.group)

    @property
    def has_batch_norm(self) -> bool:
        return _has_batch_norm(self.rows)

    @cached_property
    def code(self) -> ModelCode:
        """model.py's imports, constants, helpers, and the lines of __init__ and forward."""
        return ModelCode(
            self.modules, self.statements, self.fragments, self.constants, self.constants_comment
        )


def build_plan(bp: Blueprint, image_size: tuple[int, int] | None = None) -> ModelPlan:
    """Check shapes and names and produce the plan, or raise BlueprintError with every problem found."""
    token = DEFINED.set(bp.blocks or {})  # a defined block reads its layers where it is used
    try:
        plan = _Walk(bp, image_size).build()
    finally:
        DEFINED.reset(token)
    if image_size is None:
        plan.size_probe = lambda plan: _size_freedom(bp, plan)
    return plan


def _size_freedom(bp: Blueprint, plan: ModelPlan) -> tuple[bool, int]:
    """Whether the model works at other image sizes (global pooling, bilinear pooling, attention)
    with the same weights, and the smallest square size it accepts."""
    h, w = bp.image.height, bp.image.width

    def works(size: tuple[int, int]) -> bool:
        token = DEFINED.set(bp.blocks or {})
        try:
            other = _Walk(bp, size, probe=True).build()
        except BlueprintError:
            return False
        finally:
            DEFINED.reset(token)
        return other.total_params == plan.total_params and other.output_shape == plan.output_shape

    if not works((h * 2 + 1, w * 2 + 1)):
        return False, h
    # The smallest size that works (shapes only shrink with the size): sizes 1, 2, 4, ... up to
    # the first that works, then halves of the gap; few walks, as most models work at a few pixels.
    low, high, size = 1, max(h, w), 1
    while size < high and not works((size, size)):
        low, size = size + 1, size * 2
    high = min(size, high)
    while low < high:
        mid = (low + high) // 2
        if works((mid, mid)):
            high = mid
        else:
            low = mid + 1
    return True, low


class _Walk:
    def __init__(
        self, bp: Blueprint, image_size: tuple[int, int] | None, probe: bool = False
    ) -> None:
        """`probe`: only whether the model works at this size (the checks that do not depend on
        it, such as the comparison with torchvision's layout for `pretrained`, are left out)."""
        self.bp = bp
        self.probe = probe
        height, width = image_size or (bp.image.height, bp.image.width)
        self.image_shape = image(bp.image.channels, height, width)
        self.problems = ProblemCollector()
        self.num_classes = bp.num_classes
        model = bp.model
        layers: list[Layer] = []
        for group in (model.layers, model.image, model.question, model.head):
            layers.extend(group or [])
        last = (model.head if bp.is_vqa else model.layers) or [None]
        self.ctx = Context(
            layers,
            self.num_classes,
            bp.input.question.vocab_size if bp.is_vqa else None,
            last[-1],
            self.problems,
        )

    def build(self) -> ModelPlan:
        bp, ctx = self.bp, self.ctx
        self.problems.raise_if_any()
        if bp.is_vqa:
            out = self._build_vqa()
        else:
            out = self.branch(bp.model.layers, self.image_shape)
            ctx.forward.flush()
            if out is not None:
                self._check_output(out, bp.model.layers[-1])
        if bp.model.pretrained and not self.probe:  # torchvision's layout planned as this is
            check_model_pretrained(bp, ctx, self.image_shape, self.problems, build_plan)
        self._check_phases()
        for unit in FEATURES:  # the training features' checks that need the model
            unit.check_plan(self.bp, self.ctx.rows, self.problems)
        class_name = self._class_name()
        self._check_helper_names()
        self.problems.raise_if_any()
        input_shapes = {"image": self.image_shape}
        if bp.is_vqa:
            input_shapes["question"] = tokens(bp.input.question.max_length)
        return ModelPlan(
            class_name=class_name,
            description=bp.description,
            input_shapes=input_shapes,
            output_shape=out,
            num_classes=self.num_classes,
            vocab_size=ctx.vocab_size,
            rows=ctx.rows,
            module_names=ctx.module_names,
            pretrained=ctx.pretrained,
            init_weights=ctx.init_weights,
            is_vqa=bp.is_vqa,
            auxiliary=ctx.auxiliary,
            modules=ctx.modules,
            statements=ctx.statements,
            fragments=ctx.ordered_fragments(),
            constants=ctx.constants,
            constants_comment=ctx.constants_comment,
        )

    def branch(self, layers: list[Layer], shape: Shape) -> Shape | None:
        for layer in layers:
            try:
                self.ctx.used(layer)
                shape = layer.plan(shape, self.ctx)
            except ShapeError as error:
                self.problems.problems.append(error.problem)
                return None
        return shape

    def _build_vqa(self) -> Shape | None:
        """The image and question branches, each with its own variable, meet at the head's first
        layer: `x, attention = self.attention(v, q)`."""
        model, ctx = self.bp.model, self.ctx
        ctx.forward = Forward(ctx.statements, "v", "image")
        v = self.branch(model.image, self.image_shape)
        ctx.forward.flush()
        ctx.forward = Forward(ctx.statements, "q", "question")
        if any(getattr(layer, "NEEDS_LENGTHS", False) for layer in model.question):
            real_words = BinOp(Var("question"), "!=", 0).attr("sum")(1).attr("clamp")(min=1)
            ctx.statements.insert(0, Assign("lengths", real_words, "real words; 0 is padding"))
        q = self.branch(model.question, tokens(self.bp.input.question.max_length))
        ctx.forward.flush()
        if v is None or q is None:
            return None
        first = model.head[0]
        if not hasattr(first, "join"):
            self.problems.add(
                first.location,
                f"model.head[0] ({first.KIND})",
                "the head starts where the image and question branches meet, so its first layer "
                "must combine them",
                "start the head with `stacked_attention`",
            )
            return None
        ctx.forward = Forward(ctx.statements, "x", "x")
        try:
            ctx.used(first)
            out = first.join(v, q, ctx)
        except ShapeError as error:
            self.problems.problems.append(error.problem)
            return None
        out = self.branch(model.head[1:], out)
        ctx.forward.flush()
        if out is not None:
            self._check_output(out, model.head[-1])
        return out

    def _check_output(self, out: Shape, last: Layer) -> None:
        what = "answer" if self.bp.is_vqa else "class"
        if out.kind != "vector":
            self.problems.add(
                last.location,
                last.path,
                f"the model ends with {out} but must give one score per {what} "
                f"({self.num_classes})",
                "end with `- flatten` and `- linear: classes`",
            )
        elif out.dims[0] != self.num_classes:
            self.problems.add(
                last.location,
                last.path,
                f"the model gives {out.dims[0]} scores but the data has {self.num_classes} "
                f"{what}es",
                "write `linear: classes` for the last layer",
            )

    def _class_name(self) -> str:
        """The model class: the blueprint's, or one made from its name; it must not be a name
        that model.py binds already (an import, a helper of the blocks it uses, a constant)."""
        model, ctx = self.bp.model, self.ctx
        bound = set(IMPORTS) | {constant.name for constant in ctx.constants}
        bound.update(name for fragment in ctx.fragments for name in fragment.defines)
        if model.class_name:
            if model.class_name in bound:
                self.problems.add(
                    model.key_locations.get("class_name", model.location),
                    "model.class_name",
                    f"'{model.class_name}' is a name the generated code uses already",
                    "choose another class name",
                )
            return model.class_name
        parts = [p for p in "".join(ch if ch.isalnum() else " " for ch in self.bp.name).split()]
        candidate = "".join(p[:1].upper() + p[1:] for p in parts) or "Model"
        if candidate[0].isdigit():
            candidate = "Model" + candidate
        if class_name_problem(candidate) or candidate in bound:  # `run` would give Run (train.py's)
            candidate += "Model"
        return candidate

    def _check_helper_names(self) -> None:
        """Each helper model.py defines has a name of its own (a defined block's `class:` may
        take a built-in helper's, or another block's)."""
        seen: set[str] = set()
        for fragment in self.ctx.fragments:
            if fragment.name in seen or fragment.name in IMPORTS:
                # at the block of the blueprint whose class it is, where there is one
                where, path = None, "blocks"
                for name, kind in (self.bp.blocks or {}).items():
                    definition = getattr(kind, "DEFINITION", None)
                    if getattr(definition, "class_name", None) == fragment.name:
                        where, path = definition.location, f"blocks.{name}.class"
                self.problems.add(
                    where,
                    path,
                    f"model.py would define '{fragment.name}' twice: a block's class is named "
                    "like another helper of the model",
                    "give the block another `class:` name",
                )
            seen.add(fragment.name)

    def _check_phases(self) -> None:
        train = self.bp.train
        names = set(self.ctx.module_names)
        for i, phase in enumerate(train.phases or []):
            path = f"train.phases[{i}]"
            for key in ("trainable", "frozen"):
                listed = getattr(phase, key)
                if listed == "all" or not listed:
                    continue
                for position, module in enumerate(listed):
                    top = module.split(".")[0]
                    if top not in names:
                        self.problems.add(
                            phase.key_locations.get(key, phase.location),
                            f"{path}.{key}[{position}]",
                            f"the model has no module named '{module}'",
                            did_you_mean(module, names)
                            or "modules with parameters: " + ", ".join(sorted(names)),
                        )
            if phase.frozen and set(phase.frozen) >= names:
                self.problems.add(
                    phase.key_locations.get("frozen", phase.location),
                    f"{path}.frozen",
                    "this phase freezes every module, so nothing would train",
                    "leave at least one module out of `frozen`",
                )


def trains_part(name: str, phase) -> bool:
    """Whether any parameter of the top-level module `name` trains in `phase`."""

    def touches(entries) -> bool:
        return any(e == name or e.startswith(name + ".") for e in entries)

    if phase.trainable != "all":
        return touches(phase.trainable)
    return name not in phase.frozen


def _has_norm(rows: list[Row]) -> bool:
    """Whether the model has batch, layer or group norm layers."""
    return any(
        row.kind in ("batch norm", "layer norm") or row.kind.startswith("group norm")
        for row in rows
    )


def _has_batch_norm(rows: list[Row]) -> bool:
    """Whether the model has batch norm layers (every unit that makes one gives it a row)."""
    return any(row.kind == "batch norm" for row in rows)
