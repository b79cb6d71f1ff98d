"""The blueprint is read in three steps (issue 26, item 3): parse, resolve, check. Resolving
happens while the sections are read, so that each is complete when it is built: its shorthand
resolved (`ema: true` is a ModelEMA section), its defaults filled, every field of the type it
declares, and nothing sets a field of a section afterwards (checks included)."""

from __future__ import annotations

import re
import types
import typing

import pytest
import yaml
from conftest import BLUEPRINTS, REPO

from scaffold import blueprint as blueprint_module
from scaffold import spec
from scaffold.blueprint import Blueprint, Data, Train, TwoInputs, blueprint_from_data
from scaffold.features import FEATURES
from scaffold.features.ema import ModelEMA
from scaffold.features.mixing import CutMix, MixUp
from scaffold.plan import build_plan
from scaffold.spec import Section, Struct, _fields

CORPUS = sorted((REPO / "tests" / "corpus" / "blueprints").glob("*.yaml"))
# the bundled blueprints with phases, VQA, a feature cache and defined blocks, and the corpus
READ = [b for b in BLUEPRINTS if b.stem in ("bcnn_vgg16", "san_vgg_lstm", "efficientnet_b0")]


@pytest.fixture
def sets_after_construction(monkeypatch):
    """Every field set on one of the blueprint's sections after its constructor set it, and
    every other attribute set on one: (class, name) pairs."""
    seen: set[tuple[int, str]] = set()
    kept: list[object] = []  # so that no id is used twice while the test runs
    found: list[tuple[str, str]] = []

    sections = set(_sections())

    def recording_setattr(self, name, value):
        names = {f.name for f in _fields(type(self))}
        if type(self) in sections and ((id(self), name) in seen or name not in names):
            found.append((type(self).__name__, name))
        seen.add((id(self), name))
        kept.append(self)
        object.__setattr__(self, name, value)

    monkeypatch.setattr(Section, "__setattr__", recording_setattr)
    return found


@pytest.mark.parametrize("path", READ + CORPUS, ids=lambda p: p.stem)
def test_reading_checking_and_planning_set_no_field_of_a_built_section(
    path, sets_after_construction
):
    bp = blueprint_module.load_blueprint(path)
    build_plan(bp)
    assert sets_after_construction == []
    assert isinstance(bp.data, Data) and isinstance(bp.train, Train)


def _sections() -> list[type]:
    """The blueprint's section classes: those of scaffold.blueprint and of the training
    features' fields (block and transform kinds are the language's, not read here)."""
    found = [
        value
        for value in vars(blueprint_module).values()
        if isinstance(value, type) and issubclass(value, Section) and value is not Section
    ]
    for unit in FEATURES:
        for fields in (unit.fields, unit.phase_fields, unit.blueprint_fields, unit.schedule_fields):
            for spec_field in fields.values():
                kinds = getattr(spec_field.metadata["type"], "alternatives", ())
                found += [k.section for k in kinds if isinstance(k, Struct)]
    return found


def test_no_field_of_a_section_is_typed_any_or_a_bare_container():
    for cls in _sections():
        annotations: dict = {}
        for klass in reversed(cls.__mro__):
            annotations |= vars(klass).get("__annotations__", {})
        for f in _fields(cls):
            if "type" not in f.metadata:
                continue
            written = annotations[f.name]
            text = written if isinstance(written, str) else repr(written)
            assert not re.search(r"\bAny\b|\b(list|dict)\b(?!\[)", text), (cls.__name__, f.name)


def test_a_features_field_declares_its_resolved_type():
    hints = {name: vars(Train)["__annotations__"][name] for name in ("ema", "mixup", "cutmix")}
    assert hints == {"ema": ModelEMA | None, "mixup": MixUp | None, "cutmix": CutMix | None}
    assert vars(Blueprint)["__annotations__"]["export"] == list[str]
    assert isinstance(hints["ema"], types.UnionType)
    assert typing.get_args(hints["ema"]) == (ModelEMA, type(None))


BASE = {
    "name": "resolved",
    "input": {"channels": 3, "height": 32, "width": 32},
    "model": {"layers": ["flatten", {"linear": "classes"}]},
}


def test_shorthand_is_resolved_while_reading():
    train = {
        "ema": True,
        "mixup": 0.3,
        "cutmix": False,
        "phases": [{"epochs": 1, "optimizer": {"lr": 0.1}}],
    }
    bp = blueprint_from_data(BASE | {"train": train, "export": True})
    ema = bp.train.ema
    assert isinstance(ema, ModelEMA) and ema.decay == ModelEMA.decay and ema.path == "train.ema"
    assert ema.location == bp.train.key_locations["ema"]  # where `ema:` is written
    assert bp.train.mixup == MixUp(alpha=0.3) and bp.train.cutmix is None
    assert bp.export == ["onnx", "torch_export"]
    assert bp.train.optimizer.name == "adam"  # the default
    assert bp.train.phases[0].optimizer.name == "adam"  # a phase's optimizer names train's
    assert blueprint_from_data(BASE | {"train": {"epochs": 1, "ema": 0.99}}).train.ema.decay == 0.99
    assert blueprint_from_data(BASE | {"train": {"epochs": 1, "ema": False}}).train.ema is None


def test_defaults_are_complete_sections():
    bp = blueprint_from_data(BASE | {"train": {"epochs": 1}})
    assert (bp.data.dataset, bp.data.classes, bp.data.path) == ("synthetic", 10, "data")
    assert bp.data.location == bp.location and bp.data.transforms.train == []
    assert bp.export == [] and bp.train.ema is None and bp.train.mixup is None
    cifar = blueprint_from_data(BASE | {"data": {"dataset": "cifar"}, "train": {"epochs": 1}})
    assert (cifar.data.dataset, cifar.data.classes) == ("cifar10", 10)
    vqa = yaml.safe_load((REPO / "blueprints" / "san_vgg_lstm.yaml").read_text(encoding="utf-8"))
    vqa = blueprint_from_data({key: value for key, value in vqa.items() if key != "data"})
    assert isinstance(vqa.input, TwoInputs)
    assert (vqa.data.dataset, vqa.data.classes) == ("synthetic_vqa", None)


def test_replaced_builds_a_new_section_and_keeps_the_old_one():
    data = Data(dataset=None, path="data")
    completed = spec.replaced(data, dataset="mnist")
    assert completed is not data and data.dataset is None
    assert (completed.dataset, completed.path) == ("mnist", "data")


def test_a_unit_field_of_another_type_must_declare_its_annotation(monkeypatch):
    """unit_fields derives the type of a plain field (true/false, a number, a word) and refuses
    any other field that does not declare the type of its value once read."""
    from scaffold import features
    from scaffold.features import Feature, unit_fields
    from scaffold.spec import Bool, Int, OneOf, section, spec_field

    class Plain(Feature):
        name = "plain"
        fields = {
            "plain_steps": spec_field(Int(min=1), 1, "steps"),
            "plain": spec_field(Bool(), None, "on, off or unsaid"),
            "plain_said": spec_field(Bool()),  # required
        }

    class Switch(Feature):
        name = "switch"
        fields = {"switch": spec_field(OneOf(Bool(), Int()), None, "a switch or a count")}

    monkeypatch.setattr(features, "FEATURES", (Plain(),))
    made = unit_fields("train")(section(type("Made", (Section,), {"__annotations__": {}})))
    annotations = {"plain_steps": int, "plain": bool | None, "plain_said": bool}
    assert vars(made)["__annotations__"] == annotations
    monkeypatch.setattr(features, "FEATURES", (Switch(),))
    with pytest.raises(TypeError, match=r"features/switch\.py: the field 'switch' .*annotation="):
        unit_fields("train")(type("Refused", (Section,), {"__annotations__": {}}))


def test_no_unit_resolves_after_reading():
    """A unit's shorthand resolves in its field (`spec_field(..., resolve=...)`), while the
    section is read: the methods that rewrote a read section are gone, and one written in a unit
    would never run."""
    for unit in FEATURES:
        for name in ("resolve", "resolve_blueprint"):
            assert not hasattr(unit, name), f"scaffold/features/{unit.name}.py: {name}()"
