"""Training features as units, the way block kinds are units in scaffold/blocks/.

A feature is one module here and, at most, one template partial of its own,
templates/_partials/features/NAME.py.jinja. The module holds everything scaffold decides about
it: its blueprint fields under `train` (and so their schema), how their shorthand resolves, its
checks, whether a project has it, its config keys and how tests/test_config.py shows each one
works, its metric columns and its README item. The partial holds its code as Jinja macros named
after the points of the templates' skeleton (`imports`, `helpers`, `setup`, `after_optimizer_step`,
`evaluation`, `state`, ...): at each point the skeleton prints every feature's macro of that
name, in the order of FEATURES, and never names a feature itself. Features meet through the
skeleton's order and the values it hands to a point (e.g. the optimizer step's number), not
through hand-written combinations.

Adding a feature: a module here whose `UNIT` is an instance of a `Feature` subclass (its `order`
places its code among the others'), its partial, and its tests; nothing else names it.

The data path's pieces of train.py are units here too, with no blueprint field of their own: the
data set, the recipe's schedules or the model's plan decide them (`on_blueprint`, `on_project`):
image files whose undecodable images are skipped (undecodable), GPU decoding, data on the device,
loader workers, other image sizes, torchvision's data, pretrained weights, VQA, and the schedule's
interval (per_step, plateau). They sit here, not beside data.py's sources
(templates/_partials/sources/, whole classes that data.py includes), because their code goes in at
train.py's points, as the training features' does, and meets theirs there in one order.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import TYPE_CHECKING, Any

from ..spec import Bool, Enum, Float, Int, Str

if TYPE_CHECKING:
    from ..errors import ProblemCollector


class Feature:
    """A training feature. Subclasses set `name` and `fields` and override what they need."""

    # the unit's name: its partial is templates/_partials/features/NAME.py.jinja
    name: str = ""
    # where its code goes at each point, among the other features' (smaller first; each unit its own)
    order: int = 0
    # its blueprint fields under `train`, and under each of `train.phases`:
    # {key: spec_field(...)}, in the schema's order. A field whose value is not what was written
    # (`true` is a section with its defaults) resolves it while it is read, `spec_field(...,
    # resolve=...)`, and names the resolved type, `annotation=`: nothing changes a section
    # after it is built.
    fields: dict[str, Any] = {}
    phase_fields: dict[str, Any] = {}
    # its top-level blueprint fields (beside `model`, `data`, `train`)
    blueprint_fields: dict[str, Any] = {}
    # its fields of every learning-rate schedule (train's and the phases'), after their own
    schedule_fields: dict[str, Any] = {}
    # config paths of counts that must be 1 or more, and the largest value of bounded numbers
    least: tuple[str, ...] = ()
    # train.py's flags that give a setting of its config (by argparse's names), and the setting
    flags: dict[str, str] = {}
    # train.py's imports of its code (third-party, sorted with the other features')
    imports: tuple[str, ...] = ()
    # which of the README's lists its item goes in: the recipe's, or the data's
    readme_part: str = "recipe"
    # what its code needs installed: pyproject.toml's dependencies
    dependencies: tuple[str, ...] = ()
    most: dict[str, float] = {}
    # its config settings that may be null, by name, and what they are otherwise
    nullable: dict[str, str] = {}
    # train.py's flags that change what a run computes (checkpoints keep them, --resume restores
    # them), by argparse's names
    resumed_flags: tuple[str, ...] = ()
    # a unit whose code replaces train.py's Python training step (a CUDA graph captures it):
    # that step in words, for the problems of the units that need it (`needs_python_step`)
    replaces_step: str = ""

    def check(self, bp, problems: ProblemCollector) -> None:
        """Problems of its fields that need more than one value (of the blueprint `bp`) to see."""

    def needs_python_step(self, bp) -> list[tuple[str, str, str]]:
        """Its fields that are on (in the resolved blueprint `bp`) and need train.py's Python
        training step, which a unit that replaces it cannot run: (key under `train`, why, fix),
        the texts with `{step}` (the replacing unit's `replaces_step`) and `{field}` (its key)."""
        return []

    def batches_per_step(self, train) -> int:
        """Batches whose gradients make one optimizer step."""
        return 1

    def stdlib_imports(self, project) -> tuple[str, ...]:
        """The standard library's modules train.py imports for its code."""
        return ()

    def check_plan(self, bp, rows, problems: ProblemCollector) -> None:
        """Problems that need the model: `rows`, the plan's layers (scaffold.plan)."""

    def blends_images(self, train) -> list[str]:
        """Its keys that are on and blend the images of a batch (which stored features cannot)."""
        return []

    def on(self, train) -> bool:
        """Whether a project of the resolved blueprint section `train` has this feature."""
        raise NotImplementedError

    def on_blueprint(self, bp) -> bool:
        """Whether a project of the resolved blueprint `bp` has this feature (its `train`: `on`)."""
        return self.on(bp.train)

    def on_project(self, project) -> bool:
        """Whether the project `project` (its blueprint and its model's plan) has this feature:
        for units the plan decides (e.g. auxiliary heads); others ask the blueprint only."""
        return self.on_blueprint(project.blueprint)

    def config(self, train) -> dict:
        """Its settings in configs/default.yaml's `train`, when on."""
        return {}

    def phase_config(self, phase) -> dict:
        """Its settings in each phase of configs/default.yaml, when on (from the blueprint's
        `phase`)."""
        return {}

    def phases_config(self, bp, phases: list[dict]) -> None:
        """Add its settings to configs/default.yaml's phases (`phases`, each phase's settings
        filled in), when on."""

    def schedule_reads(self, project, name: str) -> set[str]:
        """The settings of a schedule `name` that its code in make_schedule reads."""
        return set()

    def choices(self, train) -> dict[str, tuple[str, ...]]:
        """--set: the values its settings that name code may take, by path ([] any index)."""
        return {}

    def kinds(self, train) -> dict[str, tuple[str, ...]]:
        """--set: the kinds of value of its settings whose value in the config does not tell."""
        return {}

    def values(self, project) -> dict:
        """Values its partial prints (p.feature_values[NAME])."""
        return {}

    def setting_check(self, path: str, value) -> tuple[str, Any] | None:
        """How tests/test_config.py shows the config setting `path` (its value `value`) works:
        ("probe", (probe, other value)) or ("run", value); None: not this feature's."""
        return None

    def extras(self, project) -> dict[str, list[str]]:
        """pyproject.toml's optional dependencies of its own, by extra (the tests' extra has
        them too)."""
        return {}

    def metrics(self, project) -> list[str]:
        """metrics.csv's columns of its own."""
        return []

    def readme(self, project) -> str | None:
        """The generated README's item on it, in words (Markdown, one paragraph)."""
        return None


def _units() -> tuple[Feature, ...]:
    """Every module of this package's `UNIT`, by their `order`."""
    units = [
        importlib.import_module(f"{__name__}.{module.name}").UNIT
        for module in pkgutil.iter_modules(__path__)
    ]
    return tuple(sorted(units, key=lambda unit: unit.order))


# every feature, in the order their code appears at each point of the skeleton
FEATURES: tuple[Feature, ...] = _units()


# the type of a value the field types of scaffold.spec read as plain values
PLAIN = {Bool: bool, Int: int, Float: float, Enum: str, Str: str}


def unit_fields(part: str):
    """A decorator (below @section) that adds every feature's blueprint fields of `part`
    ("blueprint", "train", "phase" or "schedule") to the section class."""

    def add(cls: type) -> type:
        annotations = cls.__dict__.get("__annotations__", {})
        for unit in FEATURES:
            own = {"blueprint": unit.blueprint_fields, "train": unit.fields}
            own |= {"phase": unit.phase_fields, "schedule": unit.schedule_fields}
            for key, spec in own[part].items():
                annotations[key] = _annotation(unit, key, spec)
                setattr(cls, key, spec)
        cls.__annotations__ = annotations
        return cls

    return add


def _annotation(unit: Feature, key: str, spec) -> Any:
    """The type of a unit's field once read: the one it declares, else its field type's (a
    plain true/false, integer, number or word; None where its default is None)."""
    declared = spec.metadata.get("annotation")
    if declared is not None:
        return declared
    kind = PLAIN.get(type(spec.metadata["type"]))
    if kind is None:
        raise TypeError(
            f"scaffold/features/{unit.name}.py: the field {key!r} reads "
            f"{type(spec.metadata['type']).__name__}; declare the type of its value: "
            "spec_field(..., annotation=...)"
        )
    return kind | None if spec.default is None and not spec.metadata["required"] else kind


def features_of(bp) -> tuple[Feature, ...]:
    """The features a resolved blueprint `bp` switches on, in FEATURES' order (not those the
    model's plan decides, such as pretrained weights: Project.features has every one)."""
    return tuple(unit for unit in FEATURES if unit.on_blueprint(bp))


def check_steps(bp, problems: ProblemCollector) -> None:
    """A unit that replaces train.py's Python training step (`replaces_step`) beside the units
    that need that step (`needs_python_step`): a problem at each of their fields, naming both."""
    units = features_of(bp)
    for replacing in (unit for unit in units if unit.replaces_step):
        names = {"step": replacing.replaces_step, "field": next(iter(replacing.fields))}
        for unit in units:
            for key, why, fix in unit.needs_python_step(bp):
                where = bp.train.key_locations.get(key, bp.train.location)
                problems.add(where, f"train.{key}", why.format(**names), fix.format(**names))
