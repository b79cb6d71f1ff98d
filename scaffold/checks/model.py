"""Checks of the model's form: its class name, and `layers` for one image input or `image`,
`question` and `head` for two inputs. The checks that need the model's plan (shapes, module names,
pretrained weights) are scaffold/plan.py's and scaffold/pretrained.py's."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..names import class_name_problem
from ..spec import location_of

if TYPE_CHECKING:
    from ..blueprint import Blueprint
    from ..errors import ProblemCollector


def check_model_form(bp: Blueprint, problems: ProblemCollector) -> None:
    """A class name Python takes, and the layers the input calls for."""
    model = bp.model
    if model.class_name:
        problem = class_name_problem(model.class_name)
        if problem:
            problems.add(
                location_of(model, "class_name"),
                "model.class_name",
                problem,
                "choose another class name",
            )
    branches = {"image": model.image, "question": model.question, "head": model.head}
    if bp.is_vqa:
        if model.layers is not None:
            problems.add(
                location_of(model, "layers"),
                "model.layers",
                "a model with two inputs (image and question) has `image`, `question` and `head` "
                "instead of `layers`",
                "move the image layers under `model.image`, the question layers under "
                "`model.question`, and the attention and classifier under `model.head`",
            )
        for key, layers in branches.items():
            if layers is None:
                problems.add(
                    model.location,
                    f"model.{key}",
                    f"missing required key '{key}' for a model with image and question inputs",
                )
    else:
        given = [key for key, value in branches.items() if value is not None]
        for key in given:
            problems.add(
                location_of(model, key),
                f"model.{key}",
                f"`{key}` is for models with image and question inputs, but `input` is one image",
                "use `model.layers`, or give `input` an `image` and a `question`",
            )
        if model.layers is None and not given:
            problems.add(model.location, "model.layers", "missing required key 'layers' in model")
