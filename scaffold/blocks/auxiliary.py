"""`auxiliary`: a side head that gives extra class scores in training (GoogLeNet's aux1 and aux2,
Inception v3's AuxLogits, Szegedy et al. 2015 and 2016).

    - inception: {..., name: inception4a}
    - auxiliary: {weight: 0.3, name: aux1, layers: [inception_aux: {num_classes: classes}]}
    - inception: {..., name: inception4b}

The head takes the main path's value at its place in the list, and the main path goes on
unchanged. Its layers are one module: a single layer (usually a defined block, torchvision's
InceptionAux) takes the head's name, several become one `nn.Sequential` of that name; they must
end with one score per class. In training the model returns `(logits, [aux1, aux2, ...])`, the
heads in the order of the list, and train.py adds each head's loss times its `weight` to the
main loss; in evaluation the heads do not run and the model returns the logits alone, as
torchvision's GoogLeNet does.

`scaffold inspect` counts a head's parameters (they are the model's, kept in its checkpoints and
torchvision's weight files) but not its multiply-adds: inspect's multiply-adds are those of
inference, in which the heads do not run (their rows say `training only`).

A head belongs to the model's own layer list: not inside a group, a residual, branches or a
defined block, and not in a VQA model (whose answers come from the image and the question
together), each refused by name.
"""

from __future__ import annotations

import copy

from .base import (
    Assign,
    AuxiliaryHead,
    Context,
    Float,
    Layer,
    LayerList,
    Shape,
    spec_field,
    this,
    unit,
)
from .emit import Forward, IfElse


@unit("auxiliary")
class Auxiliary(Layer):
    """A side head on the main path's value that gives class scores in training only, its loss
    added to the main one times `weight`; the main path goes on unchanged."""

    SHORTHAND = "layers"
    NAME = "aux"
    weight: float = spec_field(
        Float(above=0, max=10),
        doc="the weight of this head's loss: the training loss is the main one plus each "
        "head's weight times its own (GoogLeNet: 0.3)",
    )
    layers: list = spec_field(
        LayerList,
        doc="the head: one layer (usually a defined block) or several (one nn.Sequential), "
        "ending with one score per class",
    )

    def children(self) -> list[Layer]:
        return list(self.layers)

    def plan(self, x: Shape, ctx: Context) -> Shape:
        self._check_place(ctx)
        forward = ctx.forward
        forward.flush()
        source = forward.current
        name = ctx.name(self)
        mark = ctx.mark()
        ctx.forward = Forward([], name, "")  # the head's own call is written below
        ctx.forward.current = source
        try:
            if len(self.layers) == 1 and self.layers[0].NAMED_ENTRY:
                out = self._one_module(x, ctx, name)
            else:
                out = self._sequential(x, ctx, name)
        finally:
            ctx.forward = forward
        for row in ctx.rows[mark:]:  # inspect's multiply-adds are inference's
            row.macs = 0
        if ctx.rows[mark].module != name:  # several layers: one group row above theirs
            ctx.group(mark, name, "sequential", out)
        ctx.rows[mark].kind = f"auxiliary ({ctx.rows[mark].kind}), training only"
        if out.kind != "vector" or out.dims[0] != ctx.num_classes:
            raise self.error(
                f"an auxiliary head must give one score per class ({ctx.num_classes}), but this "
                f"one gives {out}",
                "end its layers with `linear: classes` (in a defined block, a parameter that the "
                "use sets to `classes`)",
                key="layers",
            )
        var = ctx.var(name if name.islower() else "aux")  # a local: `aux` for AuxLogits
        ctx.auxiliary.append(AuxiliaryHead(name, self.weight, var))
        call = IfElse(this(name)(source), this("training"), None)
        forward.statements.append(Assign(var, call, f"{out.comment()}, in training only"))
        return x

    def _check_place(self, ctx: Context) -> None:
        if ctx.vocab_size is not None:
            raise self.error(
                "auxiliary heads are for image classifiers: a VQA model's answers come from the "
                "image and the question together, so a head on one branch has nothing to answer",
                "remove the auxiliary head",
            )
        if ctx.prefix or ctx.depth or ctx.forward.var != "x":
            raise self.error(
                "an auxiliary head belongs to the model's own layer list, not to a block, group, "
                "residual or branch: the model returns its scores",
                "move it to `model.layers`, after the layer whose output it takes",
            )
        if ctx.is_last(self):
            raise self.error(
                "an auxiliary head branches off the main path, which must go on to the "
                "classifier: it cannot be the last layer",
                "move it before the classifier",
            )
        if not ctx.rows:
            raise self.error(
                "an auxiliary head takes the main path's value after a layer, not the input",
                "move it after the layer whose output it takes",
            )

    def _one_module(self, x: Shape, ctx: Context, name: str) -> Shape:
        """The head's single layer, named as the head (torchvision's `aux1 = InceptionAux(...)`)."""
        layer = copy.copy(self.layers[0])
        if layer.name and layer.name != name:
            raise layer.error(
                f"the head's one layer is the head's module, named by the head ('{name}')",
                f"write `name: {layer.name}` on the auxiliary head instead",
                key="name",
            )
        layer.name = name
        count = len(ctx.modules)
        ctx.used(layer)
        out = layer.plan(x, ctx)
        if len(ctx.modules) != count + 1 or ctx.modules[-1][0] != name:
            raise self.error(
                f"an auxiliary head is one module, and {layer.KIND} is not one with parameters",
                "give the head its layers up to the classes (they become one nn.Sequential)",
                key="layers",
            )
        return out

    def _sequential(self, x: Shape, ctx: Context, name: str) -> Shape:
        """The head's layers as one nn.Sequential attribute of the head's name."""
        from .sequential import Sequential, _sequential

        entries = Sequential.inner(self, x, ctx, name, depth=1)
        out = entries[-1][1]
        ctx.module(name, _sequential(entries, comments=True))
        return out
