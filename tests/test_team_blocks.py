"""A block a team adds in its own template: examples/team-template/blocks/eca.py, copied into
`blocks/` beside the copier.yml of a template root, is a block kind for that template's engine,
with no change to the scaffold package. The engine (that root's `scaffold/`) is loaded under a
name of its own, as each template version's engine is when rendering, so two versions live in one
process; the team's unit writes `from .base import ...` like a built-in one."""

from __future__ import annotations

import importlib
import importlib.util
import itertools
import shutil
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from jinja2 import Environment, FileSystemLoader
from torch.utils.flop_counter import FlopCounterMode

from scaffold.blueprint import load_blueprint
from scaffold.errors import BlueprintError

REPO = Path(__file__).resolve().parent.parent
_names = itertools.count()

BLUEPRINT = """
    name: eca_cnn
    description: A small CNN with the team's efficient channel attention.
    input: {channels: 3, height: 32, width: 32}
    model:
      layers:
        - conv: {out: 64, kernel: 3, padding: 1, bias: false}
        - batch_norm
        - relu
        - eca                 # k = 3 for 64 channels, as the paper
        - maxpool: 2
        - sequential: [conv: {out: 256, kernel: 3, padding: 1}, relu, eca]   # k = 5
        - eca: 7
        - global_avgpool
        - flatten
        - linear: classes
    train: {epochs: 1}
    """


def make_template_root(folder: Path, team_blocks: bool = True, copier_yml: bool = True) -> Path:
    """A template root as a team's fork has it: copier.yml, templates/, the engine, blocks/."""
    if copier_yml:
        shutil.copy(REPO / "copier.yml", folder)
    shutil.copytree(REPO / "templates", folder / "templates")
    ignore = shutil.ignore_patterns("__pycache__", "_template")
    shutil.copytree(REPO / "scaffold", folder / "scaffold", ignore=ignore)
    if team_blocks:
        (folder / "blocks").mkdir()
        shutil.copy(REPO / "examples" / "team-template" / "blocks" / "eca.py", folder / "blocks")
    return folder


def load_engine(root: Path):
    """root/scaffold imported under a name of its own (not `scaffold`)."""
    name = f"_engine_{next(_names)}"
    spec = importlib.util.spec_from_file_location(
        name, root / "scaffold" / "__init__.py", submodule_search_locations=[str(root / "scaffold")]
    )
    engine = importlib.util.module_from_spec(spec)
    sys.modules[name] = engine
    spec.loader.exec_module(engine)
    for part in ("blueprint", "plan", "report", "jinja_ext", "errors", "blocks.base"):
        module = importlib.import_module(f"{name}.{part}")
        if part == "blocks.base":
            engine.blocks.base = module
        else:
            setattr(engine, part, module)
    return engine


@pytest.fixture(scope="module")
def team(tmp_path_factory):
    return load_engine(make_template_root(tmp_path_factory.mktemp("team-template")))


@pytest.fixture
def blueprint_file(tmp_path):
    path = tmp_path / "bp.yaml"
    path.write_text(textwrap.dedent(BLUEPRINT).lstrip(), encoding="utf-8")
    return path


def model_code(engine, blueprint) -> str:
    root = Path(engine.__file__).parent.parent
    environment = Environment(
        loader=FileSystemLoader(str(root / "templates")),
        extensions=[engine.jinja_ext.ScaffoldExtension],
        keep_trailing_newline=True,
    )
    template = environment.get_template("{{ package_name }}/model.py.jinja")
    return template.render(blueprint=blueprint.raw, package_name="proj")


def test_the_team_engine_validates_and_inspects_the_block(team, blueprint_file):
    blueprint = team.blueprint.load_blueprint(blueprint_file)
    plan = team.plan.build_plan(blueprint)
    table = team.report.inspect_table(blueprint, plan)
    assert "eca k=3" in table and "block.2" in table and "eca k=5" in table
    assert "eca k=7" in table
    eca = next(row for row in plan.rows if row.kind == "eca k=5")
    assert (eca.params, eca.macs) == (5, 256 * 5)
    assert plan.size_agnostic  # the block works at any size, as the paper's


def test_scaffolds_own_engine_does_not_know_the_block(blueprint_file):
    from scaffold.plan import build_plan

    with pytest.raises(BlueprintError) as refused:
        build_plan(load_blueprint(blueprint_file))
    assert "unknown layer type 'eca'" in str(refused.value)


def test_a_blocks_folder_without_copier_yml_is_not_a_template(tmp_path, blueprint_file):
    """An installed engine (site-packages/scaffold) must not pick up a stray site-packages/blocks."""
    engine = load_engine(make_template_root(tmp_path, copier_yml=False))
    with pytest.raises(engine.errors.BlueprintError) as refused:
        engine.blueprint.load_blueprint(blueprint_file)
    assert "unknown layer type 'eca'" in str(refused.value)


def test_a_mistake_in_the_block_is_located_like_any_other(team, tmp_path):
    path = tmp_path / "even.yaml"
    path.write_text(textwrap.dedent(BLUEPRINT).lstrip().replace("eca: 7", "eca: 4"), "utf-8")
    with pytest.raises(team.errors.BlueprintError) as refused:
        team.plan.build_plan(team.blueprint.load_blueprint(path))
    message = str(refused.value)
    assert message.startswith(f"{path}:12:12: model.layers[6] (eca).kernel: the kernel must be odd")
    assert "hint: use 5" in message


def test_the_generated_model_runs_and_its_counts_are_torchs(team, blueprint_file):
    blueprint = team.blueprint.load_blueprint(blueprint_file)
    plan = team.plan.build_plan(blueprint)
    code = model_code(team, blueprint)
    assert "class ECA(nn.Module):" in code and "import math" not in code
    assert "self.eca1 = ECA(kernel_size=3)" in code and "ECA(kernel_size=5),  # (N, 256" in code
    namespace = {"__name__": "proj.model"}
    exec(compile(code, "proj/model.py", "exec"), namespace)
    torch.manual_seed(0)
    model = namespace[plan.class_name]().eval()
    for row in plan.rows:
        if row.module:
            module = model.get_submodule(row.module)
            assert sum(p.numel() for p in module.parameters()) == row.params, row
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        out = model(x)
    assert out.shape == (2, 10) and torch.isfinite(out).all()
    macs = counter.get_total_flops() // 2 // 2  # two samples
    assert abs(plan.total_macs - macs) <= 0.01 * macs, (plan.total_macs, macs)


def test_the_block_is_the_papers(team, blueprint_file):
    """The official ECA code (BangguWu/ECANet, eca_module.py) gives the same output."""
    code = model_code(team, team.blueprint.load_blueprint(blueprint_file))
    namespace = {"__name__": "proj.model"}
    exec(compile(code, "proj/model.py", "exec"), namespace)
    ours = namespace["ECA"](kernel_size=5)
    pool = torch.nn.AdaptiveAvgPool2d(1)
    x = torch.randn(2, 256, 6, 6)
    with torch.no_grad():
        y = pool(x)
        y = ours.conv(y.squeeze(-1).transpose(-1, -2)).transpose(-1, -2).unsqueeze(-1)
        expected = x * torch.sigmoid(y).expand_as(x)
        torch.testing.assert_close(ours(x), expected)


def test_two_engines_in_one_process_keep_their_own_blocks(team, tmp_path, blueprint_file):
    """The template version without the block, loaded beside the one with it, refuses it."""
    plain = load_engine(make_template_root(tmp_path, team_blocks=False))
    with pytest.raises(plain.errors.BlueprintError):
        plain.blueprint.load_blueprint(blueprint_file)
    team.plan.build_plan(team.blueprint.load_blueprint(blueprint_file))  # still fine


def test_the_team_engine_schema_describes_the_block(team):
    schema = importlib.import_module(f"{team.__name__}.schema").blueprint_schema()
    kinds = [next(iter(a["properties"])) for a in schema["$defs"]["layer"]["anyOf"][1:]]
    assert "eca" in kinds and "conv" in kinds


@pytest.mark.parametrize(
    "source, message",
    [
        (
            "from .base import Layer, unit\n\n\n@unit('conv')\nclass Conv(Layer):\n"
            "    def plan(self, x, ctx):\n        return x\n",
            "the block kind 'conv' is already defined by",
        ),
        ("from .base import Nothing\n", "ImportError: cannot import name 'Nothing'"),
    ],
    ids=["kind-taken", "broken-import"],
)
def test_a_broken_team_block_is_reported_as_such(tmp_path, blueprint_file, source, message):
    root = make_template_root(tmp_path)
    (root / "blocks" / "mistake.py").write_text(source, encoding="utf-8")
    engine = load_engine(root)
    with pytest.raises(engine.blocks.base.UnitError) as refused:  # a usage error: exit code 2
        importlib.import_module(f"{engine.__name__}.schema").blueprint_schema()
    assert "mistake.py" in str(refused.value) and message in str(refused.value)
