"""Everything the project templates print, computed from a checked blueprint and its model plan.

Templates receive a `Project` (`p`) and print its values; they make no decisions beyond including
a block or not. The project holds the names every template needs and, one object per concern,
each built from the project's blueprint, plan, pieces and training features:

- `p.pieces` (`x`, pieces.py): which pieces of code the project holds;
- `p.run` (run_config.py): configs/default.yaml, its keys, the rules of --set, the flags, and the
  settings of the generated tests' runs;
- `p.prose` (prose.py): the README's words, and the phrases docstrings and comments share;
- `p.code` (code.py): Python code in strings;
- `p.pyproject` (pyproject.py): pyproject.toml's values.

text.py holds the helpers that make user text safe where it is printed: every string that comes
from the user reaches generated Python through `py_literal` or `docstring_text`, so blueprint text
is data, never code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

from ..blueprint import Blueprint
from ..features import FEATURES, Feature
from ..names import package_name_problem
from ..plan import ModelPlan, build_plan
from ..style import py_literal
from .code import CodeText
from .pieces import Pieces
from .prose import Prose
from .pyproject import PyProject
from .run_config import RunConfig
from .text import comment_text, docstring_text, wrapped, yaml_text

__all__ = [
    "Pieces",
    "Project",
    "comment_text",
    "docstring_text",
    "package_name_for",
    "package_problem",
    "py_literal",
    "yaml_text",
]

DATA_NAMES = {"mnist": "MNIST", "cifar10": "CIFAR-10", "cub": "CUB-200-2011"}
# the synthetic shapes: one shape per class, ten shapes
SYNTHETIC_CLASS_LIMIT = 10


def package_problem(name: str) -> str:
    """Why `name` cannot be the generated package's name, or ""."""
    return package_name_problem(name)


def package_name_for(dest_name: str) -> str:
    """DEST's base name made a valid identifier: `my-proj 2` -> `my_proj_2`."""
    name = re.sub(r"\W+", "_", dest_name.strip().lower(), flags=re.ASCII).strip("_")
    if not name:
        name = "project"
    if name[0].isdigit():
        name = "p_" + name
    if package_name_problem(name):  # a keyword, or the name of a module it imports
        name += "_project"
    return name


@dataclass
class Project:
    """The generated project of a checked blueprint, as the templates see it (`p`): the names
    every template needs, its pieces (`x`), its training features, and one object per concern
    (`run`, `prose`, `code`, `pyproject`), each built once, when first printed."""

    package: str
    blueprint: Blueprint
    plan: ModelPlan | None = None  # the blueprint's plan, when the caller has made it already

    def __post_init__(self) -> None:
        if self.plan is None:
            self.plan = build_plan(self.blueprint)

    # --- its concerns -------------------------------------------------------------------------

    @cached_property
    def features(self) -> tuple[Feature, ...]:
        """The training features (units) the blueprint switches on, in their order."""
        return tuple(unit for unit in FEATURES if unit.on_project(self))

    @cached_property
    def pieces(self) -> Pieces:
        run = self.run
        return Pieces.of(self.blueprint, self.plan, run.phases, run.has_phases, self.features)

    @cached_property
    def run(self) -> RunConfig:
        return RunConfig(self)

    @cached_property
    def prose(self) -> Prose:
        return Prose(self)

    @cached_property
    def code(self) -> CodeText:
        return CodeText(self)

    @cached_property
    def pyproject(self) -> PyProject:
        return PyProject(self)

    @cached_property
    def feature_values(self) -> dict[str, dict]:
        """What each training feature's partial prints, by the feature's name."""
        return {unit.name: unit.values(self) for unit in self.features}

    # --- names and text -----------------------------------------------------------------------

    @staticmethod
    def wrapped(text: str, indent: int = 0) -> str:
        """Prose filled to the line length for a docstring (text.wrapped)."""
        return wrapped(text, indent)

    @staticmethod
    def py_literal(value) -> str:
        return py_literal(value)

    @property
    def name(self) -> str:
        return self.blueprint.name

    @property
    def docstring(self) -> str:
        return docstring_text(self.blueprint.description or f"The {self.blueprint.name} model.")

    @property
    def class_name(self) -> str:
        return self.plan.class_name

    @property
    def is_vqa(self) -> bool:
        return self.blueprint.is_vqa

    @property
    def image(self):
        return self.blueprint.image

    @property
    def num_classes(self) -> int:
        return self.plan.num_classes

    @property
    def pretrained(self):
        return self.plan.pretrained[0] if self.plan.pretrained else None

    @property
    def lstm(self) -> bool:
        """The model has an LSTM: torch's on the CPU (oneDNN) fails under bf16 and fp16 autocast."""
        return any(row.kind.startswith("lstm") for row in self.plan.rows)

    @property
    def float32_pooling(self) -> bool:
        """The model has bilinear pooling, whose products run in true float32 (TF32 off inside)."""
        return "MeanOuterProduct" in self.plan.code.defines

    # --- the data -----------------------------------------------------------------------------

    @property
    def dataset(self) -> str:
        return self.blueprint.data.dataset

    @property
    def data_name(self) -> str:
        """The blueprint's data set as people write it: MNIST, CIFAR-10, CUB-200-2011."""
        return DATA_NAMES.get(self.dataset, self.dataset)

    @property
    def torchvision_folder(self) -> str:
        """The folder torchvision keeps the data set in, inside its root."""
        return {"mnist": "MNIST", "cifar10": "cifar-10-batches-py"}.get(self.dataset, "")

    @property
    def synthetic_classes(self) -> int:
        """Classes of the built-in synthetic shapes: the blueprint's, up to SYNTHETIC_CLASS_LIMIT."""
        return min(self.num_classes, SYNTHETIC_CLASS_LIMIT)

    @property
    def source_size(self) -> tuple[int, int] | None:
        return self.blueprint.source_size
