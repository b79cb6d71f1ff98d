"""A block a team adds in its own template: examples/team-template/blocks/eca.py, a plain PyTorch
module copied into `blocks/` beside the copier.yml of a template root, is the block kind `eca` for
that template's engine, with no change to the scaffold package. The engine (that root's
`scaffold/`) is loaded under a name of its own, as each template version's engine is when
rendering, so two versions live in one process. Its shape, parameters and multiply-adds come from
running the module on the meta device; its code is copied into model.py."""

from __future__ import annotations

import importlib
import importlib.util
import itertools
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from conftest import run_scaffold
from jinja2 import Environment, FileSystemLoader
from torch.utils.flop_counter import FlopCounterMode

from scaffold.blueprint import load_blueprint
from scaffold.errors import BlueprintError

REPO = Path(__file__).resolve().parent.parent
ECA_FILE = REPO / "examples" / "team-template" / "blocks" / "eca.py"
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
        - eca: 7                # the first field, kernel
        - global_avgpool
        - flatten
        - linear: classes
    train: {epochs: 1}
    """


def make_template_root(folder: Path, team_blocks: bool = True, copier_yml: bool = True) -> Path:
    """A template root as a team's fork has it: copier.yml, templates/, the engine, blocks/."""
    folder.mkdir(parents=True, exist_ok=True)
    if copier_yml:
        shutil.copy(REPO / "copier.yml", folder)
    shutil.copytree(REPO / "templates", folder / "templates")
    ignore = shutil.ignore_patterns("__pycache__", "_template")
    shutil.copytree(REPO / "scaffold", folder / "scaffold", ignore=ignore)
    if team_blocks:
        (folder / "blocks").mkdir()
        shutil.copy(ECA_FILE, folder / "blocks")
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
        extensions=[engine.jinja_ext.ScaffoldExtension, engine.jinja_ext.ScaffoldContext],
        keep_trailing_newline=True,
    )
    template = environment.get_template("{{ package_name }}/model.py.jinja")
    return template.render(blueprint=blueprint.raw, package_name="proj", _copier_conf={})


def plan_of(engine, path: Path):
    blueprint = engine.blueprint.load_blueprint(path)
    return blueprint, engine.plan.build_plan(blueprint)


def resnet_cifar_with_eca(folder: Path, *after_each_stage: str) -> Path:
    """The bundled resnet_cifar, with `- eca` (or the layers given) after each stage."""
    text = (REPO / "blueprints" / "resnet_cifar.yaml").read_text(encoding="utf-8")
    lines = []
    for line in text.splitlines():
        lines.append(line)
        if line.strip().startswith("- stage:"):
            indent = line[: line.index("-")]
            lines += [f"{indent}- {layer}" for layer in after_each_stage or ["eca"]]
    path = folder / "resnet_cifar_eca.yaml"
    path.write_text("\n".join(lines).replace("name: resnet_cifar", "name: resnet_cifar_eca"))
    return path


# --- the block file is plain PyTorch ----------------------------------------------------------


def test_the_block_file_is_an_ordinary_pytorch_module():
    """Importable as it is, without scaffold: the kernel follows the paper's rule by default."""
    spec = importlib.util.spec_from_file_location("eca_alone", ECA_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert not any(name.startswith("scaffold") for name in vars(module))
    kernels = {c: module.ECA(c).conv.kernel_size[0] for c in (16, 64, 256, 512)}
    assert kernels == {16: 3, 64: 3, 256: 5, 512: 5}
    assert module.ECA(64, kernel=7).conv.kernel_size == (7,)
    with pytest.raises(ValueError, match="must be odd"):
        module.ECA(64, kernel=4)
    x = torch.randn(2, 64, 5, 5)
    assert module.ECA(64)(x).shape == x.shape
    lines = ECA_FILE.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("class ECA"))
    assert len(lines) <= 40 and len(lines) - start >= 20  # recorded in the team template's README
    readme = (REPO / "examples" / "team-template" / "README.md").read_text(encoding="utf-8")
    assert f"{len(lines)} lines" in readme and f"{len(lines) - start} of them" in readme


# --- the team's engine knows the kind ---------------------------------------------------------


def test_the_team_engine_validates_and_inspects_the_block(team, blueprint_file):
    blueprint, plan = plan_of(team, blueprint_file)
    table = team.report.inspect_table(blueprint, plan)
    assert "block.2" in table and "eca kernel=7" in table
    rows = [(row.module, row.params, row.macs) for row in plan.rows if row.kind.startswith("eca")]
    # k = 3 for 64 channels and 5 for 256, as the paper; C x k multiply-adds (the 1-D conv)
    assert rows == [("eca1", 3, 64 * 3), ("block.2", 5, 256 * 5), ("eca2", 7, 256 * 7)]
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


def test_what_the_module_refuses_is_located_in_the_blueprint(team, tmp_path):
    """ECA raises ValueError for an even kernel: the message names the blueprint's line and field,
    the call, and the line of the block file that raised."""
    path = tmp_path / "even.yaml"
    path.write_text(textwrap.dedent(BLUEPRINT).lstrip().replace("eca: 7", "eca: 4"), "utf-8")
    with pytest.raises(team.errors.BlueprintError) as refused:
        plan_of(team, path)
    message = str(refused.value)
    assert message.startswith(
        f"{path}:12:7: model.layers[6] (eca): ECA(256, kernel=4) fails: ValueError: the kernel "
        "must be odd"
    ), message
    line = next(
        i
        for i, text in enumerate(ECA_FILE.read_text().splitlines(), 1)
        if "raise ValueError" in text
    )
    assert message.endswith(
        f"hint: raised at {Path(team.__file__).parent.parent}/blocks/eca.py:{line}"
    )


def test_a_block_that_does_not_fit_its_input_is_refused_there(team, tmp_path):
    path = tmp_path / "vector.yaml"
    text = textwrap.dedent(BLUEPRINT).lstrip()
    path.write_text(text.replace("- linear: classes", "- eca\n    - linear: classes"))
    with pytest.raises(team.errors.BlueprintError) as refused:
        plan_of(team, path)
    message = str(refused.value)
    assert "model.layers[9] (eca): ECA(256) fails on a vector of 256 features (N, 256):" in message
    assert "IndexError" in message and "blocks/eca.py:" in message


@pytest.mark.parametrize("which", ["eca_cnn", "resnet_cifar_eca"])
def test_the_generated_model_runs_and_its_counts_are_torchs(team, blueprint_file, tmp_path, which):
    path = blueprint_file if which == "eca_cnn" else resnet_cifar_with_eca(tmp_path)
    blueprint, plan = plan_of(team, path)
    code = model_code(team, blueprint)
    assert "class ECA(nn.Module):" in code and "scaffold" not in code.split('"""')[2]
    assert '"""ECA: efficient' not in code and code.count("import math") == 1
    if which == "eca_cnn":
        assert "self.eca1 = ECA(64)" in code and "ECA(256),  # (N, 256" in code
        assert "self.eca2 = ECA(256, kernel=7)" in code
    else:
        assert [row.module for row in plan.rows if row.kind == "eca"] == ["eca1", "eca2", "eca3"]
    namespace = {"__name__": "proj.model"}
    exec(compile(code, "proj/model.py", "exec"), namespace)
    torch.manual_seed(0)
    model = namespace[plan.class_name]().eval()
    for row in plan.rows:
        if row.module:
            module = model.get_submodule(row.module)
            assert sum(p.numel() for p in module.parameters()) == row.params, row
    assert sum(p.numel() for p in model.parameters()) == plan.total_params
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
    ours = namespace["ECA"](256)
    assert ours.conv.kernel_size == (5,)
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
    plan_of(team, blueprint_file)  # still fine


def test_torch_is_imported_only_for_a_blueprint_that_uses_a_team_block(tmp_path, blueprint_file):
    root = make_template_root(tmp_path / "template")
    lenet = REPO / "blueprints" / "lenet.yaml"
    script = textwrap.dedent(f"""
        import importlib.util, sys
        spec = importlib.util.spec_from_file_location(
            "engine", {str(root / "scaffold" / "__init__.py")!r},
            submodule_search_locations=[{str(root / "scaffold")!r}],
        )
        engine = importlib.util.module_from_spec(spec)
        sys.modules["engine"] = engine
        spec.loader.exec_module(engine)
        from engine.engine import running
        running().load({str(lenet)!r})
        print("torch" in sys.modules)
        running().load({str(blueprint_file)!r})
        print("torch" in sys.modules)
        """)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert done.stdout.split() == ["False", "True"], done.stderr


# --- the schema -------------------------------------------------------------------------------


def test_the_team_engine_schema_describes_the_block(team):
    schema = importlib.import_module(f"{team.__name__}.schema").blueprint_schema()
    layers = schema["$defs"]["layer"]["anyOf"]
    kinds = [next(iter(a["properties"])) for a in layers if "properties" in a]
    assert "eca" in kinds and "conv" in kinds and "eca" in layers[0]["enum"]
    eca = next(a for a in layers if "eca" in a.get("properties", ()))
    assert eca["description"].startswith("Efficient channel attention")
    single, arguments = eca["properties"]["eca"]["anyOf"][1:]
    assert single == {"type": "integer"}  # `- eca: 5` sets the kernel
    assert set(arguments["properties"]) == {"name", "kernel"}
    assert "odd size k" in arguments["properties"]["kernel"]["description"]


def test_scaffold_schema_takes_a_template(tmp_path):
    root = make_template_root(tmp_path / "template")
    ours = run_scaffold("schema", "--trust", "--template", root)
    assert ours.code == 0, ours.err
    assert '"eca": {' in ours.out and "the odd size k" in ours.out
    assert '"eca": {' not in run_scaffold("schema").out


# --- a team's mistakes: one error each, with the file and line --------------------------------

PLAIN = "import torch\nfrom torch import nn\n\n\nclass Block(nn.Module):\n"
FORWARD = "    def forward(self, x):\n        return x\n"


@pytest.mark.parametrize(
    "name, source, message",
    [
        (
            "old_unit.py",
            "from scaffold.blocks.base import Layer, unit\n",
            "old_unit.py:1: a team block cannot import scaffold (`scaffold.blocks.base`)",
        ),
        (
            "relative.py",
            "import math\nfrom .base import Layer\n",
            "relative.py:2: a team block is a plain PyTorch module and cannot import from "
            "scaffold's engine (`from .base import ...`)",
        ),
        ("broken.py", "import torch\n\ndef f(:\n", "broken.py:3: SyntaxError: "),
        (
            "other_package.py",
            "import torch\nimport timm\n",
            "other_package.py:2: imports timm, which a generated project does not depend on",
        ),
        (
            "se.py",
            PLAIN + FORWARD,
            "se.py:5: the block kind 'se' is already defined by scaffold (a built-in other word "
            "for 'squeeze_excitation', squeeze_excitation.py)",
        ),
        (
            "squeeze_excitation.py",
            PLAIN + FORWARD,
            "squeeze_excitation.py:5: the block kind 'squeeze_excitation' is already defined by "
            "scaffold (a built-in kind, squeeze_excitation.py)",
        ),
        ("conv.py", PLAIN + FORWARD, "conv.py:5: the block kind 'conv' is already defined by"),
        ("eca.yaml", "layers: [relu]\n", "eca.yaml:1: the block kind 'eca' is already defined by"),
        ("My-Block.py", PLAIN + FORWARD, "My-Block.py:1: 'My-Block' cannot be a block kind"),
    ],
)
def test_a_mistake_the_text_shows_is_refused_for_every_blueprint(tmp_path, name, source, message):
    """Found by reading the files, before any runs: even a blueprint without team blocks (lenet)
    is refused, as a usage error (exit 2, one message, no traceback)."""
    root = make_template_root(tmp_path / "template")
    (root / "blocks" / name).write_text(source, encoding="utf-8")
    engine = load_engine(root)
    with pytest.raises(engine.blocks.base.UnitError) as refused:
        engine.blueprint.load_blueprint(REPO / "blueprints" / "lenet.yaml")
    assert message in str(refused.value) and str(root / "blocks" / name) in str(refused.value)
    if name == "old_unit.py":
        result = run_scaffold(
            "validate", "--trust", "--template", root, REPO / "blueprints" / "lenet.yaml"
        )
        assert result.code == 2 and result.err.startswith(f"scaffold: {root / 'blocks' / name}:1:")
        assert "Traceback" not in result.err and len(result.err.splitlines()) == 2


@pytest.mark.parametrize(
    "source, message",
    [
        (
            "import torch\n\nSCALE = torch.ones(2) * undefined\n",
            "mistake.py:3: the block file does not import: NameError: name 'undefined' is not "
            "defined",
        ),
        ("import torch\nSCALE = 2\n", "mistake.py:1: defines no nn.Module subclass"),
        (
            PLAIN + FORWARD + "\n\nclass Other(nn.Module):\n" + FORWARD,
            "mistake.py:10: defines 2 nn.Module classes (Block, Other); which one is the block "
            "'mistake'?\n  hint: name it in the file: __all__ = [\"Other\"]",
        ),
        (
            PLAIN + "    def __init__(self, channels: int, sizes: list[int]):\n"
            "        super().__init__()\n\n" + FORWARD,
            "mistake.py:6: parameter 'sizes' of Block is typed list, which a blueprint cannot give",
        ),
        (
            PLAIN
            + "    def __init__(self, name: str = 'x'):\n        super().__init__()\n\n"
            + FORWARD,
            "mistake.py:6: parameter 'name' cannot be a field: every layer has it already",
        ),
    ],
    ids=["raises", "no-module", "two-modules", "field-type", "field-name"],
)
def test_a_block_file_that_does_not_load_is_refused_when_used(tmp_path, source, message):
    root = make_template_root(tmp_path / "template")
    (root / "blocks" / "mistake.py").write_text(source, encoding="utf-8")
    engine = load_engine(root)
    engine.plan.build_plan(engine.blueprint.load_blueprint(REPO / "blueprints" / "lenet.yaml"))
    path = tmp_path / "uses.yaml"
    path.write_text(textwrap.dedent(BLUEPRINT).replace("- eca: 7", "- mistake"), encoding="utf-8")
    with pytest.raises(engine.blocks.base.UnitError) as refused:
        engine.blueprint.load_blueprint(path)
    assert message in str(refused.value) and str(root / "blocks") in str(refused.value)
    with pytest.raises(engine.blocks.base.UnitError):  # the schema lists every kind's fields
        importlib.import_module(f"{engine.__name__}.schema").blueprint_schema()


def test_helpers_imports_and_a_main_guard_of_a_block_file(tmp_path):
    """`__all__` names the block among several modules; the file's other imports go into
    model.py's; its docstring, `__all__` and `if __name__ == "__main__":` part stay behind."""
    root = make_template_root(tmp_path / "template", team_blocks=False)
    (root / "blocks").mkdir()
    (root / "blocks" / "gated.py").write_text(
        textwrap.dedent('''
            """A gate: x times sigmoid(a 1x1 convolution of x)."""

            from collections import OrderedDict

            import torch
            import torch.nn as nn
            from torch import Tensor

            __all__ = ["Gated"]


            class Gate(nn.Module):
                def __init__(self, channels: int) -> None:
                    super().__init__()
                    self.conv = nn.Conv2d(channels, channels, 1)

                def forward(self, x: Tensor) -> Tensor:
                    return torch.sigmoid(self.conv(x))


            class Gated(nn.Module):
                """x times a gate of x.

                Args:
                    channels: input channels.
                    scale: a factor on the output.
                    out: output channels.
                """

                def __init__(self, in_channels: int, out: int, scale: float = 1.0) -> None:
                    super().__init__()
                    self.parts = nn.Sequential(OrderedDict(gate=Gate(in_channels)))
                    self.proj = nn.Conv2d(in_channels, out, 1, bias=False)
                    self.scale = scale

                def forward(self, x: Tensor) -> Tensor:
                    return self.proj(x * self.parts(x)) * self.scale


            if __name__ == "__main__":
                print(Gated(4, 8)(torch.randn(1, 4, 3, 3)).shape)
            '''),
        encoding="utf-8",
    )
    engine = load_engine(root)
    path = tmp_path / "gated.yaml"
    text = textwrap.dedent(BLUEPRINT).replace(
        "- eca: 7", "- gated: 32\n    - gated: {out: 8, scale: 0.5}"
    )
    path.write_text(text.replace("- eca", "- relu").replace(", eca]", "]"), encoding="utf-8")
    blueprint, plan = plan_of(engine, path)
    rows = [
        (row.module, row.kind, str(row.shape), row.params, row.macs)
        for row in plan.rows
        if row.kind.startswith("gated")
    ]
    assert rows == [
        (
            "gated1",
            "gated out=32",
            "32x16x16",
            256 * 256 + 256 + 256 * 32,
            (256 * 256 + 256 * 32) * 256,
        ),
        (
            "gated2",
            "gated out=8 scale=0.5",
            "8x16x16",
            32 * 32 + 32 + 32 * 8,
            (32 * 32 + 32 * 8) * 256,
        ),
    ]
    code = model_code(engine, blueprint)
    assert (
        code.split('"""', 2)[2]
        .lstrip()
        .startswith(
            "from collections import OrderedDict\n\nimport torch\nimport torch.nn.functional as F\n"
            "from torch import nn\nfrom torch import Tensor\n\n\nclass Gate(nn.Module):"
        )
    ), code
    assert "__all__" not in code and "__main__" not in code and "A gate:" not in code
    assert "self.gated1 = Gated(256, out=32)" in code and "Gated(32, out=8, scale=0.5)" in code
    namespace = {"__name__": "proj.model"}
    exec(compile(code, "proj/model.py", "exec"), namespace)
    assert namespace[plan.class_name]()(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_inspect_shows_the_modules_inside_a_block(tmp_path):
    """A row per module of the block: its batch norm makes `sync_bn` valid, and what its own
    forward computes (a matrix product with its own parameter) has a row of its own."""
    root = make_template_root(tmp_path / "template", team_blocks=False)
    (root / "blocks").mkdir()
    (root / "blocks" / "mixer.py").write_text(
        textwrap.dedent("""
            import torch
            from torch import nn


            class Mixer(nn.Module):
                def __init__(self, channels: int, p: float = 0.1) -> None:
                    super().__init__()
                    self.conv = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
                    self.bn = nn.BatchNorm2d(channels)
                    self.drop = nn.Dropout(p)
                    self.mix = nn.Parameter(torch.eye(channels))

                def forward(self, x: torch.Tensor) -> torch.Tensor:
                    x = self.drop(torch.relu(self.bn(self.conv(x))))
                    return torch.einsum("nchw,cd->ndhw", x, self.mix)
            """),
        encoding="utf-8",
    )
    engine = load_engine(root)
    path = tmp_path / "mixer.yaml"
    text = textwrap.dedent(BLUEPRINT).replace("- eca: 7", "- mixer: 0.2")
    text = (
        text.replace("- eca", "- relu")
        .replace(", eca]", "]")
        .replace("train: {epochs: 1}", "train: {epochs: 1, sync_bn: true}")
    )
    path.write_text(text.replace("    - batch_norm\n", ""), encoding="utf-8")
    blueprint, plan = plan_of(engine, path)
    rows = [(r.module, r.kind, str(r.shape), r.params, r.macs, r.depth) for r in plan.rows]
    hw = 16 * 16
    first = next(i for i, row in enumerate(rows) if row[0] == "mixer")
    assert rows[first : first + 5] == [
        (
            "mixer",
            "mixer p=0.2",
            "256x16x16",
            256 * 256 * 9 + 512 + 256 * 256,
            256 * 256 * 10 * hw,
            0,
        ),
        ("", "mixer", "256x16x16", 256 * 256, 256 * 256 * hw, 1),
        ("mixer.conv", "Conv2d", "256x16x16", 256 * 256 * 9, 256 * 256 * 9 * hw, 1),
        ("mixer.bn", "batch norm", "256x16x16", 512, 0, 1),
        ("mixer.drop", "dropout 0.2", "256x16x16", 0, 0, 1),
    ], rows
    assert plan.has_batch_norm
    code = model_code(engine, blueprint)
    namespace = {"__name__": "proj.model"}
    exec(compile(code, "proj/model.py", "exec"), namespace)
    model = namespace[plan.class_name]().eval()
    assert sum(p.numel() for p in model.parameters()) == plan.total_params
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.randn(1, 3, 32, 32))
    assert plan.total_macs == counter.get_total_flops() // 2


def test_two_block_files_that_define_the_same_helper_cannot_meet_in_one_model(tmp_path):
    root = make_template_root(tmp_path / "template", team_blocks=False)
    (root / "blocks").mkdir()
    for kind in ("first", "second"):
        (root / "blocks" / f"{kind}.py").write_text(
            PLAIN.replace("class Block", "def helper(x):\n    return x\n\n\nclass Block") + FORWARD
        )
    engine = load_engine(root)
    path = tmp_path / "both.yaml"
    text = textwrap.dedent(BLUEPRINT).replace("- eca: 7", "- first\n    - second")
    path.write_text(text.replace("- eca", "- relu").replace(", eca]", "]"), encoding="utf-8")
    with pytest.raises(engine.errors.BlueprintError) as refused:
        plan_of(engine, path)
    assert (
        f"model.layers[7] (second): {root / 'blocks' / 'second.py'} defines Block, helper, as "
        in str(refused.value)
    )


# --- end to end -------------------------------------------------------------------------------


# slow: a project generated and trained (half a minute on 2 idle cores, minutes on busy ones);
# the default set has test_update's team template test: customize.sh, new with eca, its tests
@pytest.mark.slow
def test_a_team_template_project_with_cbam_and_eca_trains(tmp_path):
    """customize.sh makes the team's template; a resnet_cifar with `- cbam: {reduction: 8}` (the
    template's blocks/cbam.yaml) and `- eca` (its blocks/eca.py) after each stage is inspected and
    generated from it; inspect's totals are the generated model's (parameters as PyTorch counts
    them, multiply-adds within 1% of flop_counter's FLOPs / 2), and it trains for two CPU
    batches (test_update runs a team project's own tests)."""
    team = tmp_path / "team-template"
    script = REPO / "examples" / "team-template" / "customize.sh"
    done = subprocess.run(
        ["bash", str(script), str(REPO), str(team)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    blueprint = resnet_cifar_with_eca(tmp_path, "cbam: {reduction: 8}", "eca")
    inspected = run_scaffold("inspect", "--trust", "--template", team, blueprint)
    assert inspected.code == 0, inspected.err
    assert inspected.out.count(" cbam ") == 3 and inspected.out.count(" eca ") == 3
    total = next(line for line in inspected.out.splitlines() if line.startswith("total "))
    params, macs = (int(word.replace(",", "")) for word in total.split()[-2:])
    project = tmp_path / "proj"
    result = run_scaffold("new", "--trust", "--template", team, "--blueprint", blueprint, project)
    assert result.code == 0, result.err
    model_py = project / "proj" / "model.py"
    code = model_py.read_text(encoding="utf-8")
    assert "class Cbam(nn.Module):" in code and "class ECA(nn.Module):" in code
    for stage, channels in enumerate([16, 32, 64], start=1):
        assert f"self.cbam{stage} = Cbam({channels}, reduction=8)" in code
        assert f"self.eca{stage} = ECA({channels})" in code
    assert "scaffold" not in code.split('"""', 2)[2]
    spec = importlib.util.spec_from_file_location(f"team_model_{next(_names)}", model_py)
    generated = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generated)
    model = generated.ResNet().eval()
    assert sum(p.numel() for p in model.parameters()) == params
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.randn(1, 3, 32, 32))
    flops = counter.get_total_flops()
    assert abs(macs - flops / 2) <= 0.01 * flops / 2, (macs, flops / 2)
    command = [
        sys.executable, "-m", "proj.train", "--device", "cpu", "--dataset", "synthetic",
        "--epochs", "1", "--batch-size", "4", "--limit-batches", "2", "--workers", "0",
        "--out", "runs/e2e",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(project)}
    ran = subprocess.run(command, cwd=project, capture_output=True, text=True, env=env, timeout=600)
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    assert "done: best validation accuracy" in ran.stdout
    assert (project / "runs" / "e2e" / "last.pt").is_file()
