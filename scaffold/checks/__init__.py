"""Checks of a resolved blueprint that need more than one field, grouped by domain, each written
once: what the model's form is (model.py), where the data come from (data.py), how images are
prepared and loaded (images.py), and how the model trains (train.py), whose training features
check their own fields (scaffold/features/, each unit's `check`).

A check that needs the model's plan (its layers' shapes, names and kinds) runs in the plan's walk
instead, after these: scaffold/plan.py (the class name, helper names, the phases' module names,
the output) calls the units' `check_plan` and scaffold/pretrained.py's whole-model weights check.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .data import check_data
from .images import check_images
from .model import check_model_form
from .train import check_train

if TYPE_CHECKING:
    from ..blueprint import Blueprint
    from ..errors import ProblemCollector


def check_blueprint(bp: Blueprint, problems: ProblemCollector) -> None:
    """Every check of the resolved blueprint `bp` that needs more than one field (shape checking
    comes later, in scaffold.plan)."""
    check_model_form(bp, problems)
    check_data(bp, problems)
    check_images(bp, problems)
    check_train(bp, problems)
