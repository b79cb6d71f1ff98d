"""Users' blueprints keep validating with the same meaning (issue 26, item 6).

tests/corpus/blueprints/ holds blueprints as users write them today, every field, layer kind,
alias and training feature used in at least one. tests/corpus/records/ holds what each means,
written by scaffold itself (tests/corpus/update.py): `scaffold inspect`'s table, `scaffold
validate`'s notes, the generated configs/default.yaml and model.py. A change of meaning fails
here until the records are rewritten on purpose (`python tests/corpus/update.py`), so that it
shows in review. A new field, kind or alias fails until the corpus uses it.
"""

from __future__ import annotations

import difflib
import importlib.util
import json

import pytest
import yaml
from conftest import REPO

from scaffold.errors import BlueprintError


def _load_corpus():
    """tests/corpus/update.py, the records' writer (a script, not a package)."""
    spec = importlib.util.spec_from_file_location("corpus_update", REPO / "tests/corpus/update.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


corpus = _load_corpus()
SCHEMA = json.loads((REPO / "schema" / "blueprint.schema.json").read_text(encoding="utf-8"))
# where a blueprint holds layers, and transforms (field paths as `schema_fields` writes them)
LAYER_LISTS = {"model.layers", "model.image", "model.question", "model.head", "blocks.*.layers"}
TRANSFORM_LISTS = {"data.transforms.train", "data.transforms.eval"}
# what holds layers inside a layer: the composition kinds' fields, and their list forms
NESTED = ("body", "shortcut", "layers", "paths", "layer")
LIST_FORMS = {"residual", "sequential", "group", "branches", "parallel"}
COMPOSITION = LIST_FORMS | {"repeat", "auxiliary"}
FEATURES = {  # every training feature on in at least one blueprint (read and planned)
    "EMA": lambda bp, plan: bp.train.ema,
    "gradient accumulation": lambda bp, plan: bp.train.grad_accum_steps > 1,
    "mixup": lambda bp, plan: bp.train.mixup,
    "cutmix": lambda bp, plan: bp.train.cutmix,
    "label smoothing": lambda bp, plan: bp.train.label_smoothing,
    "clipping": lambda bp, plan: bp.train.grad_clip,
    "warm-up": lambda bp, plan: any(s and s.warmup_epochs for s in _schedules(bp)),
    "per-step schedule": lambda bp, plan: any(s and s.interval == "step" for s in _schedules(bp)),
    "phases": lambda bp, plan: len(bp.train.phases or []) > 1,
    "feature cache": lambda bp, plan: any(p.cache_features for p in bp.train.phases or []),
    "TensorBoard": lambda bp, plan: bp.train.tensorboard,
    "sync-BN": lambda bp, plan: bp.train.sync_bn,
    "determinism": lambda bp, plan: bp.train.deterministic,
    "CUDA graphs": lambda bp, plan: bp.train.cuda_graph,
    "export": lambda bp, plan: bp.export,
    "VQA": lambda bp, plan: bp.is_vqa,
    "auxiliary heads": lambda bp, plan: plan.auxiliary,
    "ImageNet weights": lambda bp, plan: plan.pretrained,
    "data on the GPU": lambda bp, plan: bp.data.on_device,
    "defined blocks": lambda bp, plan: bp.blocks,
}


def _schedules(bp):
    return [bp.train.schedule, *(p.schedule for p in bp.train.phases or [])]


@pytest.mark.parametrize("path", corpus.blueprints(), ids=lambda p: p.stem)
def test_blueprint_means_what_it_meant(path):
    recorded = corpus.record_path(path)
    assert recorded.is_file(), f"no record for {path.name}: run python tests/corpus/update.py"
    old = recorded.read_text(encoding="utf-8")
    try:
        new = corpus.record(path)
    except BlueprintError as error:
        pytest.fail(
            f"{path.name} validated and no longer does (users' blueprints are theirs):\n{error}"
        )
    if new != old:
        diff = "".join(
            difflib.unified_diff(
                old.splitlines(keepends=True), new.splitlines(keepends=True), "recorded", "now"
            )
        )
        pytest.fail(
            f"{path.name} means something else now; if that is intended, run "
            f"`python tests/corpus/update.py {path.stem}` and explain it in the commit:\n{diff}"
        )


def test_every_record_has_its_blueprint():
    records = {p.stem for p in corpus.RECORDS.glob("*.txt")}
    assert records == {p.stem for p in corpus.blueprints()}


def schema_fields(node=SCHEMA, path="", out=None) -> set[str]:
    """Every field a blueprint may have, as `train.phases[].schedule.name` (not the layers'
    and transforms' own, which the kinds cover)."""
    out = set() if out is None else out
    if not isinstance(node, dict) or "$ref" in node:
        return out
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in node.get(key, []):
            schema_fields(sub, path, out)
    for name, sub in node.get("properties", {}).items():
        field = f"{path}.{name}" if path else name
        out.add(field)
        schema_fields(sub, field, out)
    if isinstance(node.get("items"), dict):
        schema_fields(node["items"], path + "[]", out)
    if isinstance(node.get("additionalProperties"), dict):
        schema_fields(node["additionalProperties"], path + ".*", out)
    return out


def schema_values(node=SCHEMA, path="", out=None) -> dict[str, set]:
    """The words a blueprint field takes (`train.schedule`: constant, step, ...), a phase's
    fields counted with the recipe's."""
    out = {} if out is None else out
    if not isinstance(node, dict) or "$ref" in node:
        return out
    if "enum" in node and path:
        out.setdefault(_family(path), set()).update(node["enum"])
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in node.get(key, []):
            schema_values(sub, path, out)
    for name, sub in node.get("properties", {}).items():
        schema_values(sub, f"{path}.{name}" if path else name, out)
    if isinstance(node.get("items"), dict):
        schema_values(node["items"], path + "[]", out)
    return out


def _family(path: str) -> str:
    path = path.replace("train.phases[].", "train.").removesuffix("[]")
    return (
        path.removesuffix(".name") if path.endswith(("optimizer.name", "schedule.name")) else path
    )


def schema_arguments() -> dict[str, set[str]]:
    """Every argument of every layer kind, by the kind's first word (its aliases take the
    same)."""
    first: dict[str, str] = {}
    arguments: dict[str, set[str]] = {}
    for option in SCHEMA["$defs"]["layer"]["anyOf"]:
        if "required" not in option:
            continue
        (kind,) = option["required"]
        form = option["properties"][kind]
        canonical = first.setdefault(json.dumps(form, sort_keys=True), kind)
        KIND_OF[kind] = canonical
        forms = [form]
        while forms:
            form = forms.pop()
            arguments.setdefault(canonical, set()).update(
                set(form.get("properties", ())) - {"name"}
            )
            forms.extend(form.get("anyOf", ()))
    return arguments


KIND_OF: dict[str, str] = {}  # a layer kind's word -> its first word (schema_arguments)


def schema_kinds(definition: str) -> set[str]:
    """Every word of a layer (or transform) kind, its aliases included."""
    kinds = set()
    for option in SCHEMA["$defs"][definition]["anyOf"]:
        kinds.update(option.get("enum", ()))
        kinds.update(option.get("required", ()))
    return kinds


class Used:
    """What the corpus writes: fields, their words, layer kinds, transform kinds."""

    def __init__(self) -> None:
        self.fields: set[str] = set()
        self.values: dict[str, set] = {}
        self.layers: set[str] = set()
        self.transforms: set[str] = set()
        self.arguments: dict[str, set[str]] = {}  # by the kind's word as written

    def blueprint(self, value, path: str = "") -> None:
        if path:
            self.fields.add(path)
        if path in LAYER_LISTS:
            for item in value or []:
                self.layer(item)
            return
        if path in TRANSFORM_LISTS:
            for item in value or []:
                self.transforms.add(item if isinstance(item, str) else next(iter(item)))
            return
        if isinstance(value, dict):
            for key, item in value.items():
                if path == "blocks":
                    self.blueprint(item, "blocks.*")
                else:
                    self.blueprint(item, f"{path}.{key}" if path else key)
        elif isinstance(value, list):
            for item in value:
                self.blueprint(item, path + "[]")
        elif path:
            self.values.setdefault(_family(path.removesuffix("[]")), set()).add(value)

    def layer(self, item) -> None:
        if isinstance(item, str):
            self.layers.add(item)
        elif isinstance(item, dict) and len(item) == 1:
            ((kind, arguments),) = item.items()
            self.layers.add(kind)
            if isinstance(arguments, dict):
                self.arguments.setdefault(kind, set()).update(arguments)
            if isinstance(arguments, list) and kind in LIST_FORMS:
                self.layers_in(arguments)
            elif isinstance(arguments, dict) and kind in COMPOSITION:
                for key in NESTED:
                    if key == "layer" and key in arguments:
                        self.layer(arguments[key])
                    elif key == "paths":
                        for branch in arguments.get(key, []):
                            self.layers_in(branch)
                    elif key in arguments:
                        self.layers_in(arguments[key])

    def layers_in(self, items) -> None:
        for item in items or []:
            if isinstance(item, list):  # a path of branches' list form
                self.layers_in(item)
            else:
                self.layer(item)


@pytest.fixture(scope="module")
def used() -> Used:
    found = Used()
    for path in corpus.blueprints():
        found.blueprint(yaml.safe_load(path.read_text(encoding="utf-8")))
    return found


def test_the_corpus_uses_every_blueprint_field(used):
    missing = sorted(schema_fields() - used.fields)
    assert not missing, f"no blueprint of tests/corpus/blueprints/ sets {missing}"


def test_the_corpus_uses_every_word_of_every_field(used):
    missing = {
        field: sorted(map(str, words - used.values.get(field, set())))
        for field, words in schema_values().items()
        if words - used.values.get(field, set())
    }
    assert not missing, f"no blueprint of tests/corpus/blueprints/ says {missing}"


def test_the_corpus_uses_every_layer_kind_and_alias(used):
    missing = sorted(schema_kinds("layer") - used.layers)
    assert not missing, f"no blueprint of tests/corpus/blueprints/ has the layers {missing}"


def test_the_corpus_gives_every_argument_of_every_layer_kind(used):
    arguments = schema_arguments()
    given: dict[str, set[str]] = {}
    for kind, names in used.arguments.items():
        given.setdefault(KIND_OF.get(kind, kind), set()).update(names)
    missing = {
        kind: sorted(names - given.get(kind, set()))
        for kind, names in arguments.items()
        if names - given.get(kind, set())
    }
    assert not missing, f"no blueprint of tests/corpus/blueprints/ gives the arguments {missing}"


def test_the_corpus_uses_every_transform_and_alias(used):
    missing = sorted(schema_kinds("transform") - used.transforms)
    assert not missing, f"no blueprint of tests/corpus/blueprints/ has the transforms {missing}"


def test_the_corpus_switches_on_every_training_feature():
    from scaffold.blueprint import load_blueprint
    from scaffold.plan import build_plan

    read = [load_blueprint(path) for path in corpus.blueprints()]
    planned = [(bp, build_plan(bp)) for bp in read]
    missing = [name for name, on in FEATURES.items() if not any(on(*both) for both in planned)]
    assert not missing, f"no blueprint of tests/corpus/blueprints/ switches on {missing}"
