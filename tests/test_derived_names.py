"""A module named after its kind must not hide nn.Module's methods: a defined block (or a team's
block file) called `half`, `train` or `to`, used once, would otherwise become `self.half`, and
`self.half(x)` would call Module.half. Such a kind's module is numbered as a second use would be
(`half1`); the block keeps its name, which the user chose and which nothing else depends on."""

from __future__ import annotations

import shutil
import textwrap

import torch
from conftest import run_scaffold
from test_language import blueprint, model_of
from test_team_blocks import ECA_FILE, load_engine, make_template_root, model_code, plan_of

from scaffold.names import NN_MODULE_ATTRIBUTES

BLOCKS = """
half:
  params: {out: ~}
  layers: [conv: {out: $out, padding: 1}, relu]
train:
  params: {out: ~}
  layers: [conv: {out: $out, padding: 1}, relu]
to: {layers: [relu]}
forward: {layers: [relu]}
lambda: {layers: [relu]}
"""

LAYERS = """
- half: 16
- train: 16
- to
- forward
- lambda
- global_avgpool
- flatten
- linear: classes
"""


def test_nn_module_attributes_are_all_of_torchs():
    public = {name for name in dir(torch.nn.Module) if not name.startswith("_")}
    assert public <= NN_MODULE_ATTRIBUTES


def test_a_block_named_like_a_module_method_gets_a_numbered_module_and_runs(tmp_path):
    bp = blueprint(LAYERS, BLOCKS, size=8)
    plan, namespace, model = model_of(bp)
    modules = [row.module for row in plan.rows if row.module and "." not in row.module]
    assert modules[:5] == ["half1", "train1", "to1", "forward1", "lambda1"]
    assert isinstance(model.half1, namespace["Half"]) and isinstance(model.train1, torch.nn.Module)
    assert model(torch.randn(2, 3, 8, 8)).shape == (2, 10)
    model.train()  # the methods are still nn.Module's
    assert model.training and model.half1.training
    path = tmp_path / "bp.yaml"
    text = """
        name: halfnet
        input: {channels: 3, height: 8, width: 8}
        blocks:
          half:
            params: {out: ~}
            layers: [conv: {out: $out}, relu]
        model:
          layers: [half: 16, flatten, linear: classes]
        data: {classes: 2}
        train: {epochs: 1}
        """
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    assert run_scaffold("validate", path).out.strip() == "ok"
    table = run_scaffold("inspect", path).out
    assert "\nhalf1  " in table and "\n  half1.conv  " in table


def test_a_team_block_file_named_like_a_module_method_gets_a_numbered_module(tmp_path):
    root = make_template_root(tmp_path / "team", team_blocks=False)
    (root / "blocks").mkdir()
    shutil.copy(ECA_FILE, root / "blocks" / "train.py")
    (root / "blocks" / "half.yaml").write_text(
        "params: {out: ~}\nlayers: [conv: {out: $out, padding: 1}, relu]\n", encoding="utf-8"
    )
    engine = load_engine(root)
    path = tmp_path / "bp.yaml"
    text = """
        name: teamnet
        input: {channels: 3, height: 8, width: 8}
        model:
          layers: [half: 16, train, global_avgpool, flatten, linear: classes]
        train: {epochs: 1}
        """
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    bp, plan = plan_of(engine, path)
    assert [row.module for row in plan.rows][:3] == ["half1", "half1.conv", ""]
    assert "train1" in [row.module for row in plan.rows]
    namespace = {"__name__": "proj.model"}
    exec(compile(model_code(engine, bp), "proj/model.py", "exec"), namespace)
    model = namespace[plan.class_name]().eval()
    assert model(torch.randn(2, 3, 8, 8)).shape == (2, 10)


def test_a_block_class_named_like_a_helper_of_the_model_is_refused_at_the_block(tmp_path):
    path = tmp_path / "bp.yaml"
    text = """
        name: twice
        input: {channels: 3, height: 16, width: 16}
        blocks:
          half:
            class: BasicBlock
            params: {out: ~}
            layers: [conv: {out: $out}, relu]
        model:
          layers:
            - half: 16
            - stage: {block: basic, channels: 16, blocks: 1}
            - global_avgpool
            - flatten
            - linear: classes
        train: {epochs: 1}
        """
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    refused = run_scaffold("validate", path)
    assert refused.code == 2 and "Traceback" not in refused.err
    assert refused.out + refused.err == (
        f"{path}:5:5: blocks.half.class: model.py would define 'BasicBlock' twice: a block's class "
        "is named like another helper of the model\n  hint: give the block another `class:` name\n"
    )
