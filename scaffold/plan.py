"""The model plan: names, shapes, parameter counts and generated code, from one walk over the blueprint.

`build_plan(blueprint)` walks the layers in order, as the generated `forward` will run them.
For every layer it checks the input shape, computes the output shape, the parameters and
multiply-adds, picks the attribute name a person would choose (torchvision's where that
matters for pretrained weights), and writes the lines of `__init__` and `forward`.
`scaffold inspect` prints the rows; the templates print the lines. Nothing here imports torch.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from . import layers as L
from .blueprint import Blueprint
from .errors import BlueprintError, Location, Problem, ProblemCollector
from .names import class_name_problem, module_name_problem
from .presets import TORCHVISION_RESNETS, TORCHVISION_VGG, TORCHVISION_WEIGHTS, VGG_CFGS
from .shapes import Shape, conv_out, image, sequence, tokens, vector, words

ACTIVATION_CALLS = {
    "relu": ("F.relu({})", "nn.ReLU(inplace=True)"),
    "relu6": ("F.relu6({})", "nn.ReLU6(inplace=True)"),
    "elu": ("F.elu({})", "nn.ELU(inplace=True)"),
    "gelu": ("F.gelu({})", "nn.GELU()"),
    "silu": ("F.silu({})", "nn.SiLU(inplace=True)"),
    "tanh": ("torch.tanh({})", "nn.Tanh()"),
    "sigmoid": ("torch.sigmoid({})", "nn.Sigmoid()"),
}

SIMPLE_LAYERS = (
    L.Conv,
    L.BatchNorm,
    L.Activation,
    L.Pool,
    L.AdaptiveAvgPool,
    L.GlobalAvgPool,
    L.Dropout,
    L.Flatten,
    L.Linear,
)


@dataclass
class Row:
    """One line of `scaffold inspect`."""

    module: str  # state_dict prefix ("" for a function call in forward)
    kind: str
    shape: Shape
    params: int
    macs: int
    depth: int = 0
    group: bool = False  # a container whose children follow; its numbers are their sum


@dataclass
class PretrainedLoad:
    """torchvision weights the generated model can load, and where they go."""

    arch: str  # torchvision model name, e.g. "vgg16"
    weights_enum: str  # e.g. "VGG16_Weights"
    weights_member: str  # e.g. "IMAGENET1K_V1"
    target: str  # attribute receiving the weights; "" for the whole model
    source_prefix: str  # prefix of the keys in torchvision's state_dict ("features." or "")
    head: str = ""  # attribute of the classifier, loaded only when its shape matches


@dataclass
class ModelPlan:
    class_name: str
    description: str
    input_shapes: dict[str, Shape]
    output_shape: Shape
    num_classes: int
    vocab_size: int | None
    init_lines: list[str]
    forward_lines: list[str]
    rows: list[Row]
    module_names: list[str]  # top-level attributes that hold parameters, in order
    needs: set[str]
    cfg_constants: list[tuple[str, list]]
    pretrained: list[PretrainedLoad]
    init_weights: bool
    is_vqa: bool
    size_agnostic: bool = False
    min_image_size: int = 1

    @property
    def total_params(self) -> int:
        return sum(r.params for r in self.rows if not r.group)

    @property
    def total_macs(self) -> int:
        return sum(r.macs for r in self.rows if not r.group)

    def uses(self, helper: str) -> bool:
        return helper in self.needs


@dataclass
class _Simple:
    """A simple layer: its output shape, how it is constructed, and how forward calls it."""

    out: Shape
    ctor: str  # module constructor ("" when forward calls a function instead)
    label: str
    params: int = 0
    macs: int = 0
    call: str = ""  # the function forward calls instead of a module, e.g. "F.relu({})"
    folds: bool = False  # joins the previous line: x = F.relu(self.bn1(self.conv1(x)))
    foldable: bool = False  # a following batch norm or activation may join its line


class _ShapeError(Exception):
    def __init__(self, location: Location | None, field: str, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.problem = Problem(location, field, message, hint)


def build_plan(bp: Blueprint, image_size: tuple[int, int] | None = None) -> ModelPlan:
    """Check shapes and names and produce the plan, or raise BlueprintError with every problem found."""
    plan = _Builder(bp, image_size).build()
    if image_size is None and not bp.is_vqa:
        plan.size_agnostic, plan.min_image_size = _size_freedom(bp, plan)
    elif image_size is None:
        plan.size_agnostic, plan.min_image_size = _size_freedom(bp, plan)
    return plan


def _size_freedom(bp: Blueprint, plan: ModelPlan) -> tuple[bool, int]:
    """Whether the model works at other image sizes (global pooling, bilinear pooling, attention)
    with the same weights, and the smallest square size it accepts."""
    h, w = bp.image.height, bp.image.width

    def works(size: tuple[int, int]) -> bool:
        try:
            other = _Builder(bp, size).build()
        except BlueprintError:
            return False
        return other.total_params == plan.total_params and other.output_shape == plan.output_shape

    if not works((h * 2 + 1, w * 2 + 1)):
        return False, h
    low, high = 1, max(h, w)
    while low < high:  # smallest size that works; shapes only shrink with the size
        mid = (low + high) // 2
        if works((mid, mid)):
            high = mid
        else:
            low = mid + 1
    return True, low


class _Forward:
    """Writes forward lines, folding a layer's batch norm and activation into its line."""

    def __init__(self, lines: list[str], var: str, source: str) -> None:
        self.lines, self.var, self.current = lines, var, source
        self.expr: str | None = None
        self.shape: Shape | None = None
        self.wrappable = False

    def start(self, template: str, shape: Shape, wrappable: bool = False) -> None:
        self.flush()
        self.expr = template.format(self.current)
        self.shape, self.wrappable = shape, wrappable

    def wrap(self, template: str, shape: Shape) -> None:
        if self.expr is None or not self.wrappable:
            self.start(template, shape, wrappable=True)
        else:
            self.expr, self.shape = template.format(self.expr), shape

    def flush(self) -> None:
        if self.expr is not None:
            self.lines.append(f"{self.var} = {self.expr}  # {self.shape.comment()}")
            self.current, self.expr = self.var, None

    def statement(self, *lines: str) -> None:
        self.flush()
        self.lines.extend(lines)
        self.current = self.var


class _Builder:
    def __init__(self, bp: Blueprint, image_size: tuple[int, int] | None) -> None:
        self.bp = bp
        height, width = image_size or (bp.image.height, bp.image.width)
        self.image_shape = image(bp.image.channels, height, width)
        self.problems = ProblemCollector()
        self.init_lines: list[str] = []
        self.forward_lines: list[str] = []
        self.rows: list[Row] = []
        self.module_names: list[str] = []
        self.needs: set[str] = set()
        self.cfg_constants: list[tuple[str, list]] = []
        self.pretrained: list[PretrainedLoad] = []
        self.init_weights = False
        self.taken: set[str] = set()
        self.counters: Counter[str] = Counter()
        self.kind_counts = self._count_kinds()
        self.user_names = self._user_names()
        self.num_classes = bp.num_classes
        self.vocab_size = bp.input.question.vocab_size if bp.is_vqa else None

    # --- naming -------------------------------------------------------------------------------

    def _all_layers(self) -> list[L.Layer]:
        model = self.bp.model
        result = []
        for group in (model.layers, model.image, model.question, model.head):
            result.extend(group or [])
        return result

    def _count_kinds(self) -> Counter[str]:
        counts: Counter[str] = Counter()
        for layer in self._all_layers():
            counts[_name_base(layer)] += 1
        return counts

    def _user_names(self) -> set[str]:
        names: dict[str, L.Layer] = {}
        for layer in self._all_layers():
            if not layer.name:
                continue
            problem = module_name_problem(layer.name)
            if problem:
                self.problems.add(
                    layer.key_locations.get("name", layer.location),
                    f"{layer.path}.name",
                    problem,
                    "choose another module name",
                )
            elif layer.name in names:
                self.problems.add(
                    layer.key_locations.get("name", layer.location),
                    f"{layer.path}.name",
                    f"the name '{layer.name}' is already used by {names[layer.name].path}",
                    "every module needs its own name",
                )
            names[layer.name] = layer
        return set(names)

    def name(self, layer: L.Layer | None, base: str, single_ok: bool = True) -> str:
        if layer is not None and layer.name:
            self.taken.add(layer.name)
            return layer.name
        if (
            single_ok
            and self.kind_counts[base] <= 1
            and base not in self.taken
            and base not in self.user_names
        ):
            self.taken.add(base)
            return base
        while True:
            self.counters[base] += 1
            candidate = f"{base}{self.counters[base]}"
            if candidate not in self.taken and candidate not in self.user_names:
                self.taken.add(candidate)
                return candidate

    def fixed_name(self, wanted: str) -> str:
        """torchvision's name when free (stem: relu, maxpool), else a numbered one."""
        if wanted not in self.taken and wanted not in self.user_names:
            self.taken.add(wanted)
            return wanted
        return self.name(None, wanted, single_ok=False)

    # --- the walk -----------------------------------------------------------------------------

    def build(self) -> ModelPlan:
        bp = self.bp
        self.problems.raise_if_any()
        if bp.is_vqa:
            out = self._build_vqa()
        else:
            fw = _Forward(self.forward_lines, "x", "x")
            out = self.branch(bp.model.layers, self.image_shape, fw, "model.layers")
            fw.flush()
            if out is not None:
                self._check_output(out, bp.model.layers[-1], "model.layers")
        self._check_pretrained_model()
        self._check_phases()
        self.problems.raise_if_any()
        input_shapes = {"image": self.image_shape}
        if bp.is_vqa:
            input_shapes["question"] = tokens(bp.input.question.max_length)
        return ModelPlan(
            class_name=bp.model.class_name or _class_name(bp.name),
            description=bp.description,
            input_shapes=input_shapes,
            output_shape=out,
            num_classes=self.num_classes,
            vocab_size=self.vocab_size,
            init_lines=self.init_lines,
            forward_lines=self.forward_lines,
            rows=self.rows,
            module_names=self.module_names,
            needs=self.needs,
            cfg_constants=self.cfg_constants,
            pretrained=self.pretrained,
            init_weights=self.init_weights,
            is_vqa=bp.is_vqa,
        )

    def _build_vqa(self) -> Shape | None:
        model = self.bp.model
        question = tokens(self.bp.input.question.max_length)
        vfw = _Forward(self.forward_lines, "v", "image")
        v = self.branch(model.image, self.image_shape, vfw, "model.image")
        vfw.flush()
        qfw = _Forward(self.forward_lines, "q", "question")
        if any(isinstance(layer, (L.LSTM, L.TextCNN)) for layer in model.question):
            self.forward_lines.insert(
                0, "lengths = (question != 0).sum(1).clamp(min=1)  # real words; 0 is padding"
            )
        q = self.branch(model.question, question, qfw, "model.question")
        qfw.flush()
        if v is None or q is None:
            return None
        first = model.head[0]
        if not isinstance(first, L.StackedAttention):
            self.problems.add(
                first.location,
                f"model.head[0] ({first.KIND})",
                "the head starts where the image and question branches meet, so its first layer "
                "must combine them",
                "start the head with `stacked_attention`",
            )
            return None
        try:
            out = self.stacked_attention(first, v, q)
        except _ShapeError as error:
            self.problems.problems.append(error.problem)
            return None
        hfw = _Forward(self.forward_lines, "x", "x")
        out = self.branch(model.head[1:], out, hfw, "model.head", offset=1)
        hfw.flush()
        if out is not None:
            self._check_output(out, model.head[-1], "model.head")
        return out

    def branch(
        self, layers: list, shape: Shape, fw: _Forward, path: str, offset: int = 0
    ) -> Shape | None:
        for layer in layers:
            try:
                shape = self.layer(layer, shape, fw)
            except _ShapeError as error:
                self.problems.problems.append(error.problem)
                return None
        return shape

    def _check_output(self, out: Shape, last: L.Layer, path: str) -> None:
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

    def layer(self, layer: L.Layer, shape: Shape, fw: _Forward) -> Shape:
        if isinstance(layer, SIMPLE_LAYERS):
            return self.do_simple(layer, shape, fw)
        handler: Callable = getattr(self, "do_" + layer.KIND)
        return handler(layer, shape, fw)

    # --- simple layers ------------------------------------------------------------------------

    def need_image(self, layer: L.Layer, shape: Shape, what: str = "") -> None:
        if shape.kind != "image":
            hint = ""
            if shape.kind == "vector":
                hint = "move this layer before `flatten`, or remove it"
            raise _ShapeError(
                layer.location,
                layer.path,
                f"{what or layer.KIND} needs a C x H x W image input but gets {_describe(shape)}",
                hint,
            )

    def do_simple(self, layer: L.Layer, shape: Shape, fw: _Forward) -> Shape:
        info = self.simple(layer, shape)
        if info.call:  # no module: a function call in forward (activations, flatten)
            self.rows.append(Row("", info.label, info.out, 0, 0))
            if info.folds:
                fw.wrap(info.call, info.out)
            else:
                fw.start(info.call, info.out)
            return info.out
        name = self.name(layer, _name_base(layer))
        self.module(name, info.ctor, params=info.params > 0)
        self.rows.append(Row(name, info.label, info.out, info.params, info.macs))
        if info.folds:
            fw.wrap(f"self.{name}({{}})", info.out)
        else:
            fw.start(f"self.{name}({{}})", info.out, wrappable=info.foldable)
        return info.out

    def simple(self, layer: L.Layer, shape: Shape, in_sequential: bool = False) -> _Simple:
        """What a simple layer does to `shape`, and how it is written (as an attribute, or as an
        entry of nn.Sequential when `in_sequential`)."""
        if isinstance(layer, L.Activation):
            if shape.kind == "tokens":
                raise _ShapeError(
                    layer.location,
                    layer.path,
                    f"{layer.KIND} cannot act on word ids; embed them first",
                )
            if in_sequential:
                return _Simple(shape, _module_ctor(layer), layer.KIND)
            return _Simple(shape, "", layer.KIND, call=_functional(layer), folds=True)
        if isinstance(layer, L.Flatten):
            if shape.kind == "tokens":
                raise _ShapeError(
                    layer.location, layer.path, "flatten cannot act on word ids; embed them first"
                )
            out = vector(shape.numel)
            if in_sequential:
                return _Simple(out, "nn.Flatten()", "flatten")
            return _Simple(out, "", "flatten", call="torch.flatten({}, 1)")
        if isinstance(layer, L.Conv):
            return self.conv(layer, shape)
        if isinstance(layer, L.BatchNorm):
            if shape.kind not in ("image", "vector"):
                raise _ShapeError(
                    layer.location,
                    layer.path,
                    f"batch_norm works on images or vectors, not on {_describe(shape)}",
                )
            cls = "nn.BatchNorm2d" if shape.kind == "image" else "nn.BatchNorm1d"
            c = shape.dims[0]
            return _Simple(shape, f"{cls}({c}{_bn_args(layer)})", "batch norm", 2 * c, folds=True)
        if isinstance(layer, L.Pool):
            out = self.pool_shape(layer, shape)
            kind = "maxpool" if isinstance(layer, L.MaxPool) else "avgpool"
            return _Simple(out, _pool_ctor(layer), f"{kind} {layer.kernel[0]}x{layer.kernel[1]}")
        if isinstance(layer, (L.AdaptiveAvgPool, L.GlobalAvgPool)):
            self.need_image(layer, shape)
            size = getattr(layer, "size", (1, 1))
            out = image(shape.dims[0], *size)
            return _Simple(
                out,
                f"nn.AdaptiveAvgPool2d(({size[0]}, {size[1]}))",
                f"adaptive avgpool {size[0]}x{size[1]}",
            )
        if isinstance(layer, L.Dropout):
            return _Simple(shape, f"nn.Dropout(p={layer.p})", f"dropout {layer.p}")
        assert isinstance(layer, L.Linear)
        return self.linear(layer, shape)

    def conv(self, layer: L.Conv, shape: Shape) -> _Simple:
        self.need_image(layer, shape)
        c, h, w = shape.dims
        kh, kw = layer.kernel
        sh, sw = layer.stride
        dh, dw = layer.dilation
        if layer.padding == "same":
            if (sh, sw) != (1, 1):
                raise _ShapeError(
                    layer.location,
                    f"{layer.path}.padding",
                    "padding `same` only works with stride 1",
                    f"give the padding as a number, e.g. {(kh - 1) // 2}",
                )
            ph, pw = (dh * (kh - 1)) // 2, (dw * (kw - 1)) // 2
        else:
            ph, pw = layer.padding
        if c % layer.groups or layer.out % layer.groups:
            raise _ShapeError(
                layer.location,
                f"{layer.path}.groups",
                f"groups={layer.groups} must divide both the input channels ({c}) and out ({layer.out})",
            )
        span_h, span_w = dh * (kh - 1) + 1, dw * (kw - 1) + 1
        if h + 2 * ph < span_h or w + 2 * pw < span_w:
            kernel = f"kernel {kh}x{kw}"
            if (span_h, span_w) != (kh, kw):
                kernel += f" (spanning {span_h}x{span_w} with dilation {dh}x{dw})"
            padded = f" (padded to {h + 2 * ph}x{w + 2 * pw})" if (ph, pw) != (0, 0) else ""
            raise _ShapeError(
                layer.location,
                layer.path,
                f"input {shape}{padded} is smaller than {kernel}",
                "use a smaller kernel, add padding, or remove a pooling layer before it",
            )
        if layer.padding == "same":
            out = image(layer.out, h, w)
        else:
            out = image(layer.out, conv_out(h, kh, sh, ph, dh), conv_out(w, kw, sw, pw, dw))
        args = [str(c), str(layer.out), f"kernel_size={_pair(layer.kernel)}"]
        if layer.stride != (1, 1):
            args.append(f"stride={_pair(layer.stride)}")
        if layer.padding == "same":
            args.append('padding="same"')
        elif (ph, pw) != (0, 0):
            args.append(f"padding={_pair((ph, pw))}")
        if layer.dilation != (1, 1):
            args.append(f"dilation={_pair(layer.dilation)}")
        if layer.groups != 1:
            args.append(f"groups={layer.groups}")
        if not layer.bias:
            args.append("bias=False")
        per_output = (c // layer.groups) * kh * kw
        params = layer.out * per_output + (layer.out if layer.bias else 0)
        stride = f"/{layer.stride[0]}" if layer.stride != (1, 1) else ""
        return _Simple(
            out,
            f"nn.Conv2d({', '.join(args)})",
            f"conv {kh}x{kw}{stride}",
            params,
            out.numel * per_output,
            foldable=True,
        )

    def pool_shape(self, layer: L.Pool, shape: Shape) -> Shape:
        self.need_image(layer, shape)
        c, h, w = shape.dims
        kh, kw = layer.kernel
        sh, sw = layer.stride or layer.kernel
        ph, pw = layer.padding
        if ph * 2 > kh or pw * 2 > kw:
            raise _ShapeError(
                layer.location,
                f"{layer.path}.padding",
                f"padding {ph}x{pw} is more than half of the kernel {kh}x{kw}",
                "PyTorch allows at most half the kernel size as pooling padding",
            )
        if h + 2 * ph < kh or w + 2 * pw < kw:
            raise _ShapeError(
                layer.location,
                layer.path,
                f"input {shape} is smaller than kernel {kh}x{kw}",
                "remove this pooling layer, or use a larger input",
            )
        return image(
            c,
            conv_out(h, kh, sh, ph, ceil=layer.ceil_mode),
            conv_out(w, kw, sw, pw, ceil=layer.ceil_mode),
        )

    def linear(self, layer: L.Linear, shape: Shape) -> _Simple:
        if shape.kind == "image":
            raise _ShapeError(
                layer.location,
                layer.path,
                f"linear needs a flat input but gets {shape}",
                f"add `- flatten` before it (giving {shape.numel} features), or a global_avgpool "
                "and a flatten",
            )
        if shape.kind == "tokens":
            raise _ShapeError(
                layer.location, layer.path, "linear cannot act on word ids; embed them first"
            )
        features = shape.dims[-1]
        out_features = self.num_classes if layer.out == "classes" else layer.out
        uses_classes = layer.out == "classes" or (
            self._is_last(layer) and out_features == self.num_classes
        )
        out = (
            vector(out_features)
            if shape.kind == "vector"
            else Shape(shape.kind, (shape.dims[0], out_features))
        )
        size = "num_classes" if uses_classes else str(out_features)
        bias = "" if layer.bias else ", bias=False"
        params = features * out_features + (out_features if layer.bias else 0)
        positions = shape.dims[0] if shape.kind == "sequence" else 1
        return _Simple(
            out,
            f"nn.Linear({features}, {size}{bias})",
            "linear",
            params,
            positions * features * out_features,
            foldable=True,
        )

    def _is_last(self, layer: L.Layer) -> bool:
        model = self.bp.model
        last = (model.head if self.bp.is_vqa else model.layers) or []
        return bool(last) and last[-1] is layer

    # --- composite image layers ---------------------------------------------------------------

    def do_vgg(self, layer: L.Vgg, shape: Shape, fw: _Forward) -> Shape:
        self.need_image(layer, shape)
        preset = layer.cfg if isinstance(layer.cfg, str) else None
        cfg = list(VGG_CFGS[preset]) if preset else list(layer.cfg)
        if not layer.last_pool:
            if cfg[-1] != "M":
                raise _ShapeError(
                    layer.location,
                    f"{layer.path}.last_pool",
                    "last_pool: false removes a final M, but this cfg does not end with M",
                )
            cfg = cfg[:-1]
        if layer.width != 1.0:
            cfg = [v if v == "M" else max(1, round(v * layer.width)) for v in cfg]
        pretrained = self._check_vgg_pretrained(layer, preset, shape)
        name = self.name(layer, "features")
        if pretrained:
            pretrained.target = name
            self.pretrained.append(pretrained)
        # the constant: the preset by name when unchanged, else the list itself
        if preset and layer.width == 1.0:
            constant = preset
            self._add_cfg(preset, VGG_CFGS[preset])
            expr = preset if layer.last_pool else f"{preset}[:-1]"
        else:
            constant = (
                "CFG"
                if not any(n == "CFG" for n, _ in self.cfg_constants)
                else f"CFG{len(self.cfg_constants) + 1}"
            )
            self._add_cfg(constant, cfg)
            expr = constant
        args = [expr]
        if layer.batch_norm:
            args.append("batch_norm=True")
        if shape.dims[0] != 3:
            args.append(f"in_channels={shape.dims[0]}")
        self.needs.add("make_layers")
        self.init_weights = True
        first_row = len(self.rows)
        index = 0
        for position, value in enumerate(cfg):
            entry_path = f"{layer.path}.cfg[{position}] ({value})"
            if value == "M":
                c, h, w = shape.dims
                if h < 2 or w < 2:
                    raise _ShapeError(
                        layer.location,
                        entry_path,
                        f"input {shape} is smaller than kernel 2x2",
                        "remove this M, or use a larger input",
                    )
                shape = image(c, h // 2, w // 2)
                self.rows.append(Row(f"{name}.{index}", "maxpool 2x2", shape, 0, 0, depth=1))
                index += 1
                continue
            c, h, w = shape.dims
            out = image(value, h, w)
            self.rows.append(
                Row(
                    f"{name}.{index}",
                    "conv 3x3",
                    out,
                    value * c * 9 + value,
                    out.numel * c * 9,
                    depth=1,
                )
            )
            index += 1
            if layer.batch_norm:
                self.rows.append(Row(f"{name}.{index}", "batch norm", out, 2 * value, 0, depth=1))
                index += 1
            self.rows.append(Row(f"{name}.{index}", "relu", out, 0, 0, depth=1))
            index += 1
            shape = out
        label = f"vgg {preset}" if preset else "vgg"
        self.rows.insert(first_row, Row(name, label, shape, 0, 0, group=True))
        self._sum_group(first_row)
        self.module(name, f"make_layers({', '.join(args)})")
        fw.start(f"self.{name}({{}})", shape)
        return shape

    def _add_cfg(self, constant: str, cfg: list) -> None:
        if all(n != constant for n, _ in self.cfg_constants):
            self.cfg_constants.append((constant, cfg))

    def _check_vgg_pretrained(
        self, layer: L.Vgg, preset: str | None, shape: Shape
    ) -> PretrainedLoad | None:
        if not layer.pretrained:
            return None
        arch = layer.pretrained.split("/", 1)[1]
        where = layer.key_locations.get("pretrained", layer.location)
        if arch not in TORCHVISION_VGG:
            raise _ShapeError(
                where,
                f"{layer.path}.pretrained",
                f"torchvision has no VGG weights named '{arch}'",
                "one of " + ", ".join("torchvision/" + a for a in TORCHVISION_VGG),
            )
        wanted_cfg, wanted_bn = TORCHVISION_VGG[arch]
        same_cfg = preset == wanted_cfg or (not preset and layer.cfg == VGG_CFGS[wanted_cfg])
        if not same_cfg or wanted_bn != layer.batch_norm or layer.width != 1.0:
            raise _ShapeError(
                where,
                f"{layer.path}.pretrained",
                f"torchvision's {arch} weights need cfg {wanted_cfg}, batch_norm "
                f"{str(wanted_bn).lower()} and width 1",
                "change the cfg to match, or remove `pretrained`",
            )
        if shape.dims[0] != 3:
            raise _ShapeError(
                where,
                f"{layer.path}.pretrained",
                f"ImageNet weights expect 3 input channels, this input has {shape.dims[0]}",
            )
        enum, member = TORCHVISION_WEIGHTS[arch]
        return PretrainedLoad(arch, enum, member, "", "features.")

    def do_stem(self, layer: L.Stem, shape: Shape, fw: _Forward) -> Shape:
        self.need_image(layer, shape)
        c, h, w = shape.dims
        out_c = layer.channels
        conv = self.name(None, "conv", single_ok=False)
        bn = self.name(None, "bn", single_ok=False)
        relu = self.fixed_name("relu")
        if layer.style == "imagenet":
            k, s, p = 7, 2, 3
        else:
            k, s, p = 3, 1, 1
        if h + 2 * p < k or w + 2 * p < k:
            raise _ShapeError(
                layer.location, layer.path, f"input {shape} is smaller than kernel {k}x{k}"
            )
        after_conv = image(out_c, conv_out(h, k, s, p), conv_out(w, k, s, p))
        first_row = len(self.rows)
        stride = f", stride={s}" if s != 1 else ""
        self.module(
            conv, f"nn.Conv2d({c}, {out_c}, kernel_size={k}{stride}, padding={p}, bias=False)"
        )
        self.module(bn, f"nn.BatchNorm2d({out_c})")
        self.module(relu, "nn.ReLU(inplace=True)", params=False)
        self.rows.append(
            Row(
                conv,
                f"conv {k}x{k}" + (f"/{s}" if s > 1 else ""),
                after_conv,
                out_c * c * k * k,
                after_conv.numel * c * k * k,
                depth=1,
            )
        )
        self.rows.append(Row(bn, "batch norm", after_conv, 2 * out_c, 0, depth=1))
        self.rows.append(Row(relu, "relu", after_conv, 0, 0, depth=1))
        fw.start(f"self.{relu}(self.{bn}(self.{conv}({{}})))", after_conv)
        out = after_conv
        if layer.style == "imagenet":
            _, h2, w2 = after_conv.dims
            if h2 < 2 or w2 < 2:
                raise _ShapeError(
                    layer.location,
                    layer.path,
                    f"input {after_conv} is too small for the stem's max pool",
                )
            out = image(out_c, conv_out(h2, 3, 2, 1), conv_out(w2, 3, 2, 1))
            pool = self.fixed_name("maxpool")
            self.module(pool, "nn.MaxPool2d(kernel_size=3, stride=2, padding=1)", params=False)
            self.rows.append(Row(pool, "maxpool 3x3/2", out, 0, 0, depth=1))
            fw.start(f"self.{pool}({{}})", out)
        self.rows.insert(first_row, Row("", f"stem ({layer.style})", out, 0, 0, group=True))
        self._sum_group(first_row)
        self.init_weights = True
        return out

    def do_stage(self, layer: L.Stage, shape: Shape, fw: _Forward) -> Shape:
        self.need_image(layer, shape)
        bottleneck = layer.block == "bottleneck"
        block_cls = "Bottleneck" if bottleneck else "BasicBlock"
        out_c = layer.channels
        if bottleneck and out_c % 4:
            raise _ShapeError(
                layer.location,
                f"{layer.path}.channels",
                f"a bottleneck stage's output channels are 4x its width, so {out_c} must divide by 4",
            )
        width = out_c // 4 if bottleneck else out_c
        name = self.name(layer, "layer")
        self.needs.add("bottleneck" if bottleneck else "basic_block")
        self.init_weights = True
        first_row = len(self.rows)
        ctor_lines = []
        for i in range(layer.blocks):
            c, h, w = shape.dims
            stride = layer.stride if i == 0 else 1
            if h + 2 < 3 or w + 2 < 3:
                raise _ShapeError(
                    layer.location, layer.path, f"input {shape} is too small for a 3x3 convolution"
                )
            out = image(out_c, conv_out(h, 3, stride, 1), conv_out(w, 3, stride, 1))
            prefix = f"{name}.{i}"
            block_first = len(self.rows)
            args = [str(c), str(out_c)]
            if stride != 1:
                args.append(f"stride={stride}")
            if bottleneck:
                mid = image(width, h, w)
                self._conv_row(f"{prefix}.conv1", 1, c, mid, 2)
                self.rows.append(Row(f"{prefix}.bn1", "batch norm", mid, 2 * width, 0, depth=2))
                mid2 = image(width, *out.dims[1:])
                self._conv_row(f"{prefix}.conv2", 3, width, mid2, 2, stride)
                self.rows.append(Row(f"{prefix}.bn2", "batch norm", mid2, 2 * width, 0, depth=2))
                self._conv_row(f"{prefix}.conv3", 1, width, out, 2)
                self.rows.append(Row(f"{prefix}.bn3", "batch norm", out, 2 * out_c, 0, depth=2))
            else:
                self._conv_row(f"{prefix}.conv1", 3, c, out, 2, stride)
                self.rows.append(Row(f"{prefix}.bn1", "batch norm", out, 2 * out_c, 0, depth=2))
                self._conv_row(f"{prefix}.conv2", 3, out_c, out, 2)
                self.rows.append(Row(f"{prefix}.bn2", "batch norm", out, 2 * out_c, 0, depth=2))
            if layer.se:
                squeezed = max(1, out_c // layer.se)
                self.needs.add("se")
                args.append(f"se_reduction={layer.se}")
                self.rows.append(
                    Row(
                        f"{prefix}.se",
                        f"squeeze-excitation {out_c}->{squeezed}->{out_c}",
                        out,
                        2 * out_c * squeezed + squeezed + out_c,
                        2 * out_c * squeezed,
                        depth=2,
                    )
                )
            if stride != 1 or c != out_c:
                if layer.shortcut == "none":
                    raise _ShapeError(
                        layer.location,
                        f"{layer.path}.shortcut",
                        f"the first block changes the shape from {shape} to {out}, so the shortcut "
                        "cannot be the identity",
                        "use shortcut: conv1x1 (torchvision) or conv3x3 (the tutorials)",
                    )
                k = 1 if layer.shortcut == "conv1x1" else 3
                self.needs.add("conv_bn")
                stride_arg = f", stride={stride}" if stride != 1 else ""
                args.insert(
                    3 if stride != 1 else 2,
                    f"downsample=conv_bn({c}, {out_c}, kernel_size={k}{stride_arg})",
                )
                self._conv_row(f"{prefix}.downsample.0", k, c, out, 2, stride)
                self.rows.append(
                    Row(f"{prefix}.downsample.1", "batch norm", out, 2 * out_c, 0, depth=2)
                )
            self.rows.insert(
                block_first, Row(prefix, f"{layer.block} block", out, 0, 0, depth=1, group=True)
            )
            self._sum_group(block_first)
            ctor_lines.append(f"{block_cls}({', '.join(args)}),")
            shape = out
        self.rows.insert(first_row, Row(name, f"stage x{layer.blocks}", shape, 0, 0, group=True))
        self._sum_group(first_row)
        self.module(name, "nn.Sequential(", params=True, body=ctor_lines)
        fw.start(f"self.{name}({{}})", shape)
        return shape

    def _conv_row(
        self, module: str, k: int, c_in: int, out: Shape, depth: int, stride: int = 1
    ) -> None:
        c_out = out.dims[0]
        label = f"conv {k}x{k}" + (f"/{stride}" if stride > 1 else "")
        self.rows.append(
            Row(module, label, out, c_out * c_in * k * k, out.numel * c_in * k * k, depth=depth)
        )

    def _sum_group(self, index: int) -> None:
        """Give the group row at `index` the totals of the leaf rows after it, one level deeper."""
        group = self.rows[index]
        params = macs = 0
        for row in self.rows[index + 1 :]:
            if row.depth <= group.depth:
                break
            if not row.group:
                params += row.params
                macs += row.macs
        group.params, group.macs = params, macs

    def do_sequential(self, layer: L.Sequential, shape: Shape, fw: _Forward) -> Shape:
        name = self.name(layer, "block")
        first_row = len(self.rows)
        body = []
        for index, inner in enumerate(layer.layers):
            if not isinstance(inner, SIMPLE_LAYERS):
                raise _ShapeError(
                    inner.location,
                    inner.path,
                    f"{inner.KIND} cannot go inside a sequential group",
                    "only conv, batch_norm, activations, pools, dropout, flatten and linear can",
                )
            info = self.simple(inner, shape, in_sequential=True)
            shape = info.out
            body.append(f"{info.ctor},  # {shape.comment()}")
            self.rows.append(
                Row(f"{name}.{index}", info.label, shape, info.params, info.macs, depth=1)
            )
        self.rows.insert(first_row, Row(name, "sequential", shape, 0, 0, group=True))
        self._sum_group(first_row)
        self.module(name, "nn.Sequential(", body=body)
        fw.start(f"self.{name}({{}})", shape)
        return shape

    def do_bilinear_pool(self, layer: L.BilinearPool, shape: Shape, fw: _Forward) -> Shape:
        self.need_image(layer, shape, "bilinear_pool")
        c, h, w = shape.dims
        out = vector(c * c)
        self.needs.add("bilinear_pool")
        args = ["{}"]
        if layer.eps != 1e-10:
            args.append(f"eps={layer.eps!r}")
        if layer.sqrt == "plain":
            args.append("signed=False")
        self.rows.append(Row("", f"bilinear pool {c}x{c}", out, 0, c * c * h * w))
        fw.start(f"bilinear_pool({', '.join(args)})", out)
        return out

    # --- question and attention layers --------------------------------------------------------

    def do_project_regions(self, layer: L.ProjectRegions, shape: Shape, fw: _Forward) -> Shape:
        self.need_image(layer, shape, "project_regions")
        c, h, w = shape.dims
        out = sequence(h * w, layer.out)
        name = self.name(layer, "image_proj")
        self.module(name, f"nn.Linear({c}, {layer.out})")
        self.rows.append(
            Row(
                name,
                f"regions {h}x{h if h == w else w} -> linear",
                out,
                c * layer.out + layer.out,
                h * w * c * layer.out,
            )
        )
        inner = f"self.{name}({{}}.flatten(2).transpose(1, 2))"
        template = {"tanh": f"torch.tanh({inner})", "relu": f"F.relu({inner})", "none": inner}[
            layer.activation
        ]
        if layer.activation != "none":
            self.rows.append(Row("", layer.activation, out, 0, 0))
        fw.start(template, out)
        return out

    def do_embedding(self, layer: L.Embedding, shape: Shape, fw: _Forward) -> Shape:
        if shape.kind != "tokens":
            raise _ShapeError(
                layer.location,
                layer.path,
                f"embedding needs word ids (the question input), but gets {_describe(shape)}",
            )
        out = words(shape.dims[0], layer.dim)
        name = self.name(layer, "embedding")
        self.module(name, f"nn.Embedding(vocab_size, {layer.dim}, padding_idx=0)")
        self.rows.append(Row(name, "embedding", out, self.vocab_size * layer.dim, 0))
        fw.start(f"self.{name}({{}})", out)
        return out

    def do_lstm(self, layer: L.LSTM, shape: Shape, fw: _Forward) -> Shape:
        if shape.kind != "words":
            raise _ShapeError(
                layer.location,
                layer.path,
                f"lstm needs a sequence of word vectors (after an embedding), but gets {_describe(shape)}",
            )
        length, features = shape.dims
        h = layer.hidden
        name = self.name(layer, "lstm")
        args = [str(features), str(h), "batch_first=True"]
        if layer.layers != 1:
            args.append(f"num_layers={layer.layers}")
        if layer.dropout:
            args.append(f"dropout={layer.dropout}")
        self.module(name, f"nn.LSTM({', '.join(args)})")
        params = macs = 0
        inputs = features
        for _ in range(layer.layers):
            params += 4 * h * (inputs + h) + 8 * h
            macs += length * 4 * h * (inputs + h)
            inputs = h
        out = vector(h)
        self.rows.append(
            Row(name, f"lstm x{layer.layers}" if layer.layers > 1 else "lstm", out, params, macs)
        )
        var = fw.var
        fw.flush()
        fw.statement(
            f"{var}, _ = self.{name}({fw.current})  # (N, L, {h})",
            f"{var} = {var}[torch.arange({var}.size(0), device={var}.device), lengths - 1]  "
            f"# (N, {h}): the state after the last real word",
        )
        return out

    def do_text_cnn(self, layer: L.TextCNN, shape: Shape, fw: _Forward) -> Shape:
        if shape.kind != "words":
            raise _ShapeError(
                layer.location,
                layer.path,
                f"text_cnn needs a sequence of word vectors (after an embedding), but gets {_describe(shape)}",
            )
        channels = (
            layer.channels
            if isinstance(layer.channels, list)
            else [layer.channels] * len(layer.kernels)
        )
        if len(channels) != len(layer.kernels):
            raise _ShapeError(
                layer.key_locations.get("channels", layer.location),
                f"{layer.path}.channels",
                f"{len(layer.kernels)} kernels but {len(channels)} channel counts",
                "give one channel count per kernel, or a single number for all",
            )
        length, features = shape.dims
        params = sum(c * features * k + c for k, c in zip(layer.kernels, channels))
        macs = sum((length + k - 1) * c * features * k for k, c in zip(layer.kernels, channels))
        out = vector(sum(channels))
        name = self.name(layer, "question_cnn")
        self.needs.add("question_cnn")
        kernels = (
            "("
            + ", ".join(map(str, layer.kernels))
            + ("," if len(layer.kernels) == 1 else "")
            + ")"
        )
        chans = "(" + ", ".join(map(str, channels)) + ("," if len(channels) == 1 else "") + ")"
        self.module(name, f"QuestionCNN({features}, kernels={kernels}, channels={chans})")
        self.rows.append(
            Row(name, "text cnn " + "/".join(map(str, layer.kernels)) + "-gram", out, params, macs)
        )
        fw.start(f"self.{name}({{}}, lengths)", out)
        return out

    def stacked_attention(self, layer: L.StackedAttention, v: Shape, q: Shape) -> Shape:
        if v.kind != "sequence":
            raise _ShapeError(
                layer.location,
                layer.path,
                f"stacked_attention needs image regions (R x d), but the image branch gives {_describe(v)}",
                "end the image branch with `project_regions: {out: d}`",
            )
        if q.kind != "vector":
            raise _ShapeError(
                layer.location,
                layer.path,
                f"stacked_attention needs a question vector, but the question branch gives {_describe(q)}",
                "end the question branch with `lstm` or `text_cnn`",
            )
        regions, d = v.dims
        if q.dims[0] != d:
            raise _ShapeError(
                layer.location,
                layer.path,
                f"the image regions have {d} features but the question vector has {q.dims[0]}; "
                "attention adds them, so they must be equal",
                f"set project_regions out to {q.dims[0]}, or the question size to {d}",
            )
        k = layer.attention
        name = self.name(layer, "attention")
        self.needs.add("stacked_attention")
        if layer.form == "official":
            self.needs.add("attention_official")
        per_hop = 2 * d * k + k + k + 1
        first_row = len(self.rows)
        for hop in range(layer.hops):
            macs = regions * d * k + d * k + regions * k + regions * d
            self.rows.append(
                Row(
                    f"{name}.hops.{hop}",
                    f"attention hop {hop + 1}",
                    vector(d),
                    per_hop,
                    macs,
                    depth=1,
                )
            )
        self.rows.insert(
            first_row, Row(name, f"stacked attention x{layer.hops}", vector(d), 0, 0, group=True)
        )
        self._sum_group(first_row)
        args = [str(d), str(k), f"hops={layer.hops}", f"dropout={layer.dropout}"]
        self.module(name, f"StackedAttention({', '.join(args)})")
        self.forward_lines.append(
            f"x, attention = self.{name}(v, q)  # (N, {d}), attention (N, {layer.hops}, {regions})"
        )
        return vector(d)

    def do_stacked_attention(self, layer: L.StackedAttention, shape: Shape, fw: _Forward) -> Shape:
        """Anywhere but the start of model.head: it needs both branches, which meet only there."""
        raise _ShapeError(
            layer.location,
            layer.path,
            "stacked_attention combines image regions with a question, so it can only be the "
            "first layer of model.head",
            "give `input` an image and a question, and start `model.head` with it",
        )

    # --- bookkeeping --------------------------------------------------------------------------

    def module(
        self, name: str, ctor: str, params: bool = True, body: list[str] | None = None
    ) -> None:
        if body is None:
            self.init_lines.append(f"self.{name} = {ctor}")
        else:
            self.init_lines.append(f"self.{name} = {ctor}")
            self.init_lines.extend("    " + line for line in body)
            self.init_lines.append(")")
        if params:
            self.module_names.append(name)

    def _check_pretrained_model(self) -> None:
        model = self.bp.model
        if not model.pretrained:
            return
        arch = model.pretrained.split("/", 1)[1]
        where = model.key_locations.get("pretrained", model.location)
        if arch not in TORCHVISION_RESNETS:
            hint = (
                "for VGG features, put `pretrained` on the vgg layer"
                if arch in TORCHVISION_VGG
                else ""
            )
            self.problems.add(
                where,
                "model.pretrained",
                f"whole-model weights are available for {', '.join(TORCHVISION_RESNETS)}, not '{arch}'",
                hint,
            )
            return
        mismatch = _resnet_mismatch(self.bp, arch, self.taken)
        if mismatch:
            self.problems.add(
                where,
                "model.pretrained",
                f"the layers do not match torchvision's {arch}: {mismatch}",
                f"make the model exactly {arch} (see blueprints/{arch}.yaml), or remove `pretrained`",
            )
            return
        enum, member = TORCHVISION_WEIGHTS[arch]
        self.pretrained.append(PretrainedLoad(arch, enum, member, "", "", head="fc"))

    def _check_phases(self) -> None:
        train = self.bp.train
        names = set(self.module_names)
        for i, phase in enumerate(train.phases or []):
            path = f"train.phases[{i}]"
            for key in ("trainable", "frozen"):
                listed = getattr(phase, key)
                if listed == "all" or not listed:
                    continue
                for position, module in enumerate(listed):
                    top = module.split(".")[0]
                    if top not in names:
                        from .spec import did_you_mean

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


# --- helpers ----------------------------------------------------------------------------------


def _name_base(layer: L.Layer) -> str:
    return {
        "conv": "conv",
        "batch_norm": "bn",
        "linear": "fc",
        "maxpool": "pool",
        "avgpool": "pool",
        "adaptive_avgpool": "avgpool",
        "global_avgpool": "avgpool",
        "dropout": "dropout",
        "vgg": "features",
        "stage": "layer",
        "sequential": "block",
        "project_regions": "image_proj",
        "embedding": "embedding",
        "lstm": "lstm",
        "text_cnn": "question_cnn",
        "stacked_attention": "attention",
        # the stem's conv and bn are numbered with the others: conv1, bn1 as in torchvision
        "stem": "conv",
    }.get(layer.KIND, layer.KIND)


def _class_name(name: str) -> str:
    parts = [p for p in "".join(ch if ch.isalnum() else " " for ch in name).split() if p]
    candidate = "".join(p[:1].upper() + p[1:] for p in parts) or "Model"
    if candidate[0].isdigit():
        candidate = "Model" + candidate
    if class_name_problem(candidate):  # e.g. `run` would give Run, which train.py defines
        candidate += "Model"
    return candidate


def _describe(shape: Shape) -> str:
    if shape.kind == "image":
        return f"an image {shape}"
    if shape.kind == "vector":
        return f"a vector of {shape.dims[0]} features"
    if shape.kind == "tokens":
        return f"word ids ({shape.dims[0]} tokens)"
    if shape.kind == "sequence":
        return f"{shape.dims[0]} image regions of {shape.dims[1]} features"
    return f"a sequence of word vectors ({shape.dims[1]} features each)"


def _pair(values: tuple[int, int]) -> str:
    a, b = values
    return str(a) if a == b else f"({a}, {b})"


def _bn_args(layer: L.BatchNorm) -> str:
    args = ""
    if layer.eps != 1e-5:
        args += f", eps={layer.eps!r}"
    if layer.momentum != 0.1:
        args += f", momentum={layer.momentum!r}"
    return args


def _pool_ctor(layer: L.Pool) -> str:
    cls = "nn.MaxPool2d" if isinstance(layer, L.MaxPool) else "nn.AvgPool2d"
    args = [f"kernel_size={_pair(layer.kernel)}"]
    if layer.stride is not None and layer.stride != layer.kernel:
        args.append(f"stride={_pair(layer.stride)}")
    if layer.padding != (0, 0):
        args.append(f"padding={_pair(layer.padding)}")
    if layer.ceil_mode:
        args.append("ceil_mode=True")
    return f"{cls}({', '.join(args)})"


def _functional(layer: L.Activation) -> str:
    if isinstance(layer, L.LeakyReLU):
        return f"F.leaky_relu({{}}, negative_slope={layer.negative_slope!r})"
    return ACTIVATION_CALLS[layer.KIND][0]


def _module_ctor(layer: L.Activation) -> str:
    if isinstance(layer, L.LeakyReLU):
        return f"nn.LeakyReLU(negative_slope={layer.negative_slope!r}, inplace=True)"
    return ACTIVATION_CALLS[layer.KIND][1]


def _resnet_mismatch(bp: Blueprint, arch: str, names: set[str]) -> str:
    """What differs between the blueprint's layers and torchvision's `arch`, or ""."""
    block, counts = TORCHVISION_RESNETS[arch]
    expansion = 4 if block == "bottleneck" else 1
    layers = bp.model.layers or []
    kinds = [layer.KIND for layer in layers]
    wanted = ["stem", "stage", "stage", "stage", "stage", None, "flatten", "linear"]
    if len(kinds) != len(wanted):
        return (
            f"expected a stem, 4 stages, global_avgpool, flatten and linear; got {', '.join(kinds)}"
        )
    stem = layers[0]
    if not isinstance(stem, L.Stem) or stem.style != "imagenet" or stem.channels != 64:
        return "the stem must be `stem: {style: imagenet, channels: 64}`"
    for i, (stage, count) in enumerate(zip(layers[1:5], counts)):
        if not isinstance(stage, L.Stage):
            return f"layer {i + 1} must be a stage"
        expected = (block, count, 64 * 2**i * expansion, 1 if i == 0 else 2, "conv1x1", None)
        actual = (stage.block, stage.blocks, stage.channels, stage.stride, stage.shortcut, stage.se)
        if actual != expected:
            return (
                f"stage {i + 1} must be {expected[0]} x{expected[1]} with {expected[2]} channels, "
                f"stride {expected[3]}, conv1x1 shortcut and no SE"
            )
        if stage.name and stage.name != f"layer{i + 1}":
            return f"stage {i + 1} must be named layer{i + 1}"
    if not isinstance(layers[5], (L.GlobalAvgPool, L.AdaptiveAvgPool)) or getattr(
        layers[5], "size", (1, 1)
    ) != (1, 1):
        return "the stages must be followed by global_avgpool"
    last = layers[7]
    if last.name not in (None, "fc"):
        return "the classifier must be named fc"
    if bp.image.channels != 3:
        return "ImageNet weights expect 3 input channels"
    return ""
