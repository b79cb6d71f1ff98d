"""Training features are units (issue 26): each is one module of scaffold/features/ and one partial,
templates/_partials/features/NAME.py.jinja, whose macros are named after the skeleton's points.
Nothing else names a feature's blueprint keys, and every macro of a partial is a point some
template prints (a misspelt one would silently never be printed)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from scaffold.features import FEATURES

REPO = Path(__file__).resolve().parent.parent
PARTIALS = REPO / "templates" / "_partials" / "features"
SOURCES = [
    path
    for folder in (REPO / "scaffold", REPO / "templates")
    for path in sorted(folder.rglob("*"))
    if path.suffix in (".py", ".jinja") and "__pycache__" not in path.parts
]
# blueprint keys that are also plain English words, found in other prose (or shell)
WORDS = {"deterministic", "export"}
# the data path's units: the data set, its transforms or the model's plan decide them
DATA_PATH = {
    "image_size",
    "loader_workers",
    "gpu_decode",
    "on_device",
    "torchvision_data",
    "pretrained",
    "per_step",
    "plateau",
    "undecodable",
    "vqa",
}
# features the blueprint's other fields or the model's plan switch on, with no field of their own
# (top-5 accuracy: more than five classes; the auxiliary heads' loss: the model has such heads;
# the phases' loop: train.phases, the recipe's field, which every project's config resolves; the
# data path's)
DECIDED = {"top5", "auxiliary", "phases", *DATA_PATH}


def files_naming(word: str) -> list[str]:
    """The source files of scaffold/ and templates/ that hold `word` as a word (grep -w -i)."""
    pattern = re.compile(rf"(?<![A-Za-z0-9_]){re.escape(word)}(?![A-Za-z0-9_])", re.IGNORECASE)
    return sorted(
        path.relative_to(REPO).as_posix()
        for path in SOURCES
        if pattern.search(path.read_text(encoding="utf-8"))
    )


def own_files(unit) -> set[str]:
    """A feature's module, its partial, and the templates rendered only when it is on."""
    own = {
        f"scaffold/features/{unit.name}.py",
        f"templates/_partials/features/{unit.name}.py.jinja",
    }
    on = f'{{% if "{unit.name}" in x.features %}}'
    return own | {path.relative_to(REPO).as_posix() for path in SOURCES if path.name.startswith(on)}


@pytest.mark.parametrize("unit", FEATURES, ids=lambda unit: unit.name)
def test_a_features_keys_are_named_in_its_module_and_its_partial_only(unit):
    keys = {*unit.fields, *unit.phase_fields, *unit.blueprint_fields, *unit.schedule_fields}
    assert bool(keys) != (unit.name in DECIDED), "a feature has blueprint fields"
    for key in keys - WORDS:
        assert set(files_naming(key)) <= own_files(unit), key


def test_the_export_formats_are_named_in_its_own_files_only():
    (export,) = [unit for unit in FEATURES if unit.name == "export"]
    assert len(own_files(export)) == 4  # with PKG/export.py and tests/test_export.py
    for word in ("onnx", "torch_export", "onnxruntime"):  # ("export" is English too)
        named = set(files_naming(word))
        assert named <= own_files(export), (word, named - own_files(export))


def test_the_measured_words_are_each_in_two_files_at_most():
    measured = ("ema", "mixup", "grad_accum", "tensorboard", "cache_features")
    for word in (*measured, "warmup_epochs", "warmup_factor", "val_top5"):
        assert len(files_naming(word)) <= 2, (word, files_naming(word))


def points_printed() -> set[str]:
    """The points the templates' skeleton prints: every `at("POINT"` outside the partials."""
    points = set()
    for path in SOURCES:
        if path.suffix == ".jinja" and PARTIALS not in path.parents:
            points |= set(re.findall(r"\bat\(\"(\w+)\"", path.read_text(encoding="utf-8")))
    return points


@pytest.mark.parametrize("unit", FEATURES, ids=lambda unit: unit.name)
def test_every_macro_of_a_partial_is_a_point_of_the_skeleton(unit):
    partial = PARTIALS / f"{unit.name}.py.jinja"
    assert partial.is_file(), f"{unit.name} has no partial"
    macros = set(re.findall(r"\{%-?\s*macro\s+(\w+)\(", partial.read_text(encoding="utf-8")))
    assert macros and macros <= points_printed(), macros - points_printed()


def points_replaced() -> set[str]:
    """The points whose code takes the skeleton's place rather than adding to it: printed as
    `at("POINT", ...) or DEFAULT`, or set to a name the skeleton then tests with `{% if NAME %}`."""
    points = set()
    for path in SOURCES:
        if path.suffix != ".jinja" or PARTIALS in path.parents:
            continue
        text = path.read_text(encoding="utf-8")
        for call in re.finditer(r"\bat\(\"(\w+)\"", text):
            depth, end = 0, call.start() + 2
            for end in range(call.start() + 2, len(text)):  # to the call's closing parenthesis
                depth += {"(": 1, ")": -1}.get(text[end], 0)
                if depth == 0:
                    break
            if re.match(r"\s*or\b", text[end + 1 :]):
                points.add(call.group(1))
        for _name, point in re.findall(r"set (\w+) = at\(\"(\w+)\"\) %\}\s*\{%-? if \1 %\}", text):
            points.add(point)
    return points


def test_a_point_that_replaces_the_skeletons_code_has_one_unit():
    """Two units that both replaced a point (train_step, the training loop, the loaders, ...)
    would both be printed there, one after the other, and the generated code would break; a
    second one must make that explicit (e.g. as cuda_graph's `replaces_step` and the check it
    gets), so it fails here first."""
    replaced = points_replaced()
    assert {"train_step", "training_loop", "step_function", "forward", "loaders"} <= replaced
    for point in replaced:
        units = [
            unit.name
            for unit in FEATURES
            if re.search(
                rf"\{{%-?\s*macro\s+{point}\(",
                (PARTIALS / f"{unit.name}.py.jinja").read_text(encoding="utf-8"),
            )
        ]
        assert len(units) <= 1, (point, units)


def test_units_are_found_in_their_order_and_each_once():
    names = [unit.name for unit in FEATURES]
    assert len(set(names)) == len(names)
    orders = [unit.order for unit in FEATURES]
    # each its own place: a tie would leave the order of their code to the modules' names
    assert orders == sorted(set(orders))
    modules = {path.stem for path in (REPO / "scaffold" / "features").glob("*.py")}
    assert modules - {"__init__"} == set(names)


def test_a_unit_that_replaces_the_step_is_refused_beside_those_that_need_it(tmp_path):
    """One check (features.check_steps), not one per pair: each unit that needs the Python step
    and is on gets a problem at its field that names the replacing unit's field in its fix."""
    from conftest import run_scaffold

    replacing = [unit for unit in FEATURES if unit.replaces_step]
    assert [unit.name for unit in replacing] == ["cuda_graph"]
    (tmp_path / "bp.yaml").write_text(
        "name: graphed\ninput: {channels: 3, height: 32, width: 32}\n"
        "model: {layers: [flatten, linear: classes]}\ndata: {on_device: true}\n"
        "train: {epochs: 1, cuda_graph: true, grad_accum_steps: 2, mixup: true}\n",
        encoding="utf-8",
    )
    done = run_scaffold("validate", "bp.yaml", cwd=tmp_path)
    assert done.code == 2
    assert done.err.splitlines() == [
        "bp.yaml:5:38: train.grad_accum_steps: the CUDA-graph step is one whole optimizer step; "
        "it cannot add up the gradients of several batches",
        "  hint: remove cuda_graph, or grad_accum_steps",
        "bp.yaml:5:59: train.mixup: the CUDA-graph step replays fixed label tensors; mixup makes "
        "soft labels",
        "  hint: remove train.mixup or train.cuda_graph",
    ]
