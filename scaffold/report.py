"""The `scaffold inspect` table: every layer with its output shape, parameters and multiply-adds."""

from __future__ import annotations

from .blueprint import Blueprint
from .plan import ModelPlan


def human(n: int) -> str:
    """1234567 -> 1.23M, for the totals line."""
    for unit, size in (("T", 10**12), ("G", 10**9), ("M", 10**6), ("k", 10**3)):
        if n >= size:
            return f"{n / size:.2f}{unit}"
    return str(n)


def inspect_table(bp: Blueprint, plan: ModelPlan) -> str:
    header = ("module", "layer", "output", "params", "mult-adds")
    rows = []
    for row in plan.rows:
        indent = "  " * row.depth
        module = row.module or "-"
        rows.append(
            (
                indent + module,
                row.kind,
                str(row.shape),
                f"{row.params:,}" if row.params or not row.group else f"{row.params:,}",
                f"{row.macs:,}",
            )
        )
    total = ("total", "", str(plan.output_shape), f"{plan.total_params:,}", f"{plan.total_macs:,}")
    widths = [max(len(r[i]) for r in [header, total, *rows]) for i in range(5)]

    def line(cells) -> str:
        left = [cells[i].ljust(widths[i]) for i in range(3)]
        right = [cells[i].rjust(widths[i]) for i in range(3, 5)]
        return "  ".join(left + right).rstrip()

    inputs = ", ".join(f"{name} {shape}" for name, shape in plan.input_shapes.items())
    out = [
        f"{bp.name}: {bp.description}" if bp.description else bp.name,
        f"class {plan.class_name}, input {inputs}",
        "",
        line(header),
        line(["-" * w for w in widths]),
    ]
    out += [line(r) for r in rows]
    out.append(line(["-" * w for w in widths]))
    out.append(line(total))
    notes = [
        f"{human(plan.total_params)} parameters, {human(plan.total_macs)} multiply-adds per sample "
        "(convolutions, linear layers, matrix products and LSTM gates)"
    ]
    if plan.vocab_size:
        notes.append(
            f"the embedding assumes a vocabulary of {plan.vocab_size:,} words "
            "(input.question.vocab_size); training builds the real one from the data"
        )
    if plan.auxiliary:
        names = {head.name for head in plan.auxiliary}
        params = sum(r.params for r in plan.rows if not r.group and r.module.split(".")[0] in names)
        notes.append(
            f"of which {human(params)} parameters in the auxiliary heads "
            f"({', '.join(head.name for head in plan.auxiliary)}), which run in training only: "
            "their multiply-adds are not counted"
        )
    if plan.size_agnostic:
        notes.append(
            f"works at other image sizes (--image-size, at least {plan.min_image_size} px) "
            "with the same weights"
        )
    return "\n".join(out + [""] + notes)
