"""What makes `scaffold validate` of the large family blueprints fast changes no result: the image
sizes a model accepts are searched only when asked, a blueprint that is torchvision's reference
itself is not planned a second time (nor its YAML read again, when the blueprint is the
reference's own text), and libyaml reads a blueprint exactly as PyYAML's own parser
does (which still reads what libyaml refuses, for its messages). The speed itself is measured by
benchmarks/bench_validate.py, never here."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import REPO

from scaffold import plan as planning
from scaffold import source
from scaffold.blueprint import blueprint_from_data, load_blueprint
from scaffold.errors import BlueprintError

BUNDLED = sorted((REPO / "blueprints").glob("*.yaml"))


def _walks(monkeypatch) -> list:
    started: list = []
    original = planning._Walk.__init__

    def counted(self, bp, image_size, probe=False):
        started.append((bp.name, image_size, probe))
        original(self, bp, image_size, probe)

    monkeypatch.setattr(planning._Walk, "__init__", counted)
    return started


def test_a_family_blueprint_is_planned_once_and_its_sizes_only_when_asked(monkeypatch):
    walks = _walks(monkeypatch)
    plan = planning.build_plan(load_blueprint(REPO / "blueprints" / "densenet121.yaml"))
    assert walks == [("densenet121", None, False)]  # the reference is the blueprint: no 2nd walk
    assert plan.pretrained and plan.pretrained[0].arch == "densenet121"
    assert (plan.size_agnostic, plan.min_image_size) == (True, 29)  # as before: probes now
    assert len(walks) > 1 and all(probe for _, _, probe in walks[1:])
    count = len(walks)
    assert plan.min_image_size == 29 and len(walks) == count  # searched once


def _plan_summary(plan) -> tuple:
    return (
        [(r.module, r.kind, r.params, r.macs) for r in plan.rows],
        [vars(load) for load in plan.pretrained],
    )


@pytest.mark.parametrize("name", ["efficientnet_v2_s", "densenet121"])
def test_a_bundled_family_blueprint_is_its_reference_without_reading_it_again(
    name, monkeypatch, tmp_path
):
    """Read from the reference's own text (the bundled file, or a copy of it), the model is the
    reference's: the check does not read the reference's YAML again, and finds what it found
    by reading it; a copy that differs, if only in a comment, is compared with the reference."""
    from scaffold import pretrained

    path = REPO / "blueprints" / f"{name}.yaml"
    by_data = planning.build_plan(blueprint_from_data(yaml.safe_load(path.read_text())))
    read: list = []
    original = pretrained.torchvision_reference
    monkeypatch.setattr(
        pretrained, "torchvision_reference", lambda arch: read.append(arch) or original(arch)
    )
    copy = tmp_path / "copy.yaml"
    copy.write_bytes(path.read_bytes())
    for file in (path, copy):
        assert _plan_summary(planning.build_plan(load_blueprint(file))) == _plan_summary(by_data)
    assert read == []
    copy.write_text(path.read_text() + "# a comment\n")
    assert _plan_summary(planning.build_plan(load_blueprint(copy))) == _plan_summary(by_data)
    assert read == [name]


def test_a_model_that_differs_from_its_reference_is_still_compared_with_it():
    data = yaml.safe_load((REPO / "blueprints" / "densenet121.yaml").read_text())
    data["model"]["layers"][0]["sequential"]["layers"][0]["conv"]["out"] = 32  # conv0: 64 -> 32
    with pytest.raises(BlueprintError) as caught:
        planning.build_plan(blueprint_from_data(data))
    assert "do not match torchvision's densenet121" in str(caught.value)


def _nodes(node: yaml.Node):
    """A node graph as plain data: kinds, tags, values and positions."""
    mark = (node.start_mark.line, node.start_mark.column)
    if isinstance(node, yaml.MappingNode):
        return ("map", node.tag, mark, [(_nodes(k), _nodes(v)) for k, v in node.value])
    if isinstance(node, yaml.SequenceNode):
        return ("seq", node.tag, mark, [_nodes(item) for item in node.value])
    return ("scalar", node.tag, mark, node.value)


@pytest.mark.skipif(source._CLoader is None, reason="PyYAML without libyaml")
@pytest.mark.parametrize(
    "path",
    [*BUNDLED, *sorted((REPO / "examples" / "team-template").rglob("*.yaml"))],
    ids=lambda p: p.stem,
)
def test_libyaml_reads_a_blueprint_as_pyyamls_parser_does(path: Path):
    text = path.read_text(encoding="utf-8")
    fast = yaml.compose(text, Loader=source._CLoader)
    assert _nodes(fast) == _nodes(yaml.compose(text, Loader=source._Loader))


@pytest.mark.parametrize(
    "text",
    [
        "a: 1\nb: [1, 2\n",  # libyaml refuses it too: PyYAML's message, as written for
        "a: 1e-8\nb: caf\u00e9\n",  # not ASCII: PyYAML's parser, columns in characters
        "a: 1\nb: \x07\n",  # a control character: PyYAML refuses, libyaml would not
    ],
)
def test_text_libyaml_reads_otherwise_goes_to_pyyamls_parser(text: str, monkeypatch):
    used = []
    compose = yaml.compose

    def spy(stream, Loader):  # noqa: N803 (PyYAML's name)
        used.append(Loader)
        return compose(stream, Loader=Loader)

    monkeypatch.setattr(yaml, "compose", spy)
    try:
        source.parse_yaml(text, "bp.yaml")
    except BlueprintError:
        pass
    assert used[-1] is source._Loader


def test_a_blocks_layers_are_read_once_for_the_values_they_use():
    """EfficientNet's blocks of one stage differ only in `drop`, which only the residual's
    `drop_path` uses: its body is one node, read once; a mistake is still found at every use."""
    from scaffold.blocks import defined

    bp = load_blueprint(REPO / "blueprints" / "efficientnet_v2_s.yaml")
    planning.build_plan(bp)
    mbconv = bp.blocks["mbconv"].DEFINITION
    uses = sum(1 for key in mbconv.substituted if key[0] == id(mbconv.layers))
    bodies = {id(node) for node in mbconv.substituted.values()}
    assert uses > 1 and len(mbconv.read) < len(bodies) + uses  # shared, not read per use
    # one node, read once, planned at each use: the third use is too small for its kernel
    data = {
        "name": "small",
        "input": {"channels": 3, "height": 10, "width": 10},
        "blocks": {"b": {"params": {"out": None}, "layers": [{"conv": {"out": "$out"}}]}},
        "model": {
            "layers": [{"b": {"out": 8}}, {"b": {"out": 8}}, {"maxpool": 3}, {"b": {"out": 8}}]
            + ["flatten", {"linear": "classes"}]
        },
        "data": {"classes": 2},
        "train": {"epochs": 1},
    }
    with pytest.raises(BlueprintError) as caught:
        planning.build_plan(blueprint_from_data(data))
    assert "input 8x2x2 is smaller than kernel 3x3 (in the block 'b' used at" in str(caught.value)
    assert defined.READ_CACHE.get() is None  # only while a block's layers are read


def test_value_classes_written_out_behave_as_their_dataclasses_did():
    """Shape, Location, Problem and the YAML nodes are written out, not made by @dataclass (whose
    code generation was a good part of validate's start): the same equality, hashing, repr,
    frozenness and copies."""
    import copy
    import pickle

    from scaffold.errors import Location, Problem
    from scaffold.shapes import Shape

    where = Location("a.yaml", 3, 5)
    problem = Problem(where, "model.layers[0]", "bad", hint="fix it")
    shape = Shape("image", (3, 32, 32))
    assert repr(where) == "Location(file='a.yaml', line=3, column=5)"
    assert repr(problem) == (
        "Problem(location=Location(file='a.yaml', line=3, column=5), field='model.layers[0]', "
        "message='bad', hint='fix it')"
    )
    assert repr(shape) == "Shape(kind='image', dims=(3, 32, 32))"
    for value, same, other in (
        (where, Location("a.yaml", 3, 5), Location("a.yaml", 3, 6)),
        (problem, Problem(where, "model.layers[0]", "bad", "fix it"), Problem(where, "f", "bad")),
        (shape, Shape("image", (3, 32, 32)), Shape("vector", (3, 32, 32))),
    ):
        assert value == same and hash(value) == hash(same) and value != other
        assert pickle.loads(pickle.dumps(value)) == value == copy.deepcopy(value)
        with pytest.raises(AttributeError):
            value.line = 1
    assert Problem(None, "", "m").hint == ""
    node = source.MapNode(where, {"a": source.ScalarNode(where, 1)}, {"a": where})
    assert node == source.MapNode(where, {"a": source.ScalarNode(where, 1)}, {"a": where})
    assert node != source.MapNode(where, {"a": source.ScalarNode(where, 2)}, {"a": where})
    assert node != source.SeqNode(where) and source.SeqNode(where).items == []
    assert repr(source.ScalarNode(where, 1)) == f"ScalarNode(location={where!r}, value=1)"
    with pytest.raises(TypeError):
        hash(node)
