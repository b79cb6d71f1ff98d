"""Small defects of the blueprint language, each fixed and proved here: two units whose helpers
share a name, size expressions that multiply by 1, floats printed as `1e-06`, and a transform
written twice in one split."""

from __future__ import annotations

import os
import subprocess
import sys

import torch
import yaml
from conftest import REPO
from generated import _model_template, blueprint_with_layers, import_generated, model_module
from test_counts import check_counts
from test_language import blueprint, model_of

from scaffold.plan import build_plan
from scaffold.render import new_project
from scaffold.style import float_literal

ENV = {**os.environ, "PYTHONPATH": str(REPO)}


def scaffold(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "scaffold", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env=ENV,
    )


def model_code(bp) -> str:
    return _model_template().render(blueprint=bp.raw, package_name="proj", _copier_conf={})


# --- MaxViT's and Swin's attention in one model -------------------------------------------------

HEAD = [{"permute": [0, 3, 1, 2]}, "global_avgpool", "flatten", {"linear": "classes"}]
MAXVIT = {"partition_attention": {"partition": "window", "size": 4, "head_dim": 16}}
SWIN = {"window_attention": {"heads": 2, "window": 4, "shift": 2}}
SWIN_V2 = {"window_attention": {"heads": 2, "window": 4, "version": 2}}
STEM = {"conv": {"out": 32, "kernel": 4, "stride": 4}}
LAST = {"permute": [0, 2, 3, 1]}


def both_attentions(swin_first: bool):
    """A 32 px model with MaxViT's window attention and Swin's (V1 and V2) shifted windows, in
    either order."""
    maxvit = [MAXVIT]
    swin = [LAST, SWIN, SWIN_V2, {"permute": [0, 3, 1, 2]}]
    layers = [STEM, *(swin + maxvit if swin_first else maxvit + swin), LAST, *HEAD]
    return blueprint_with_layers("both_attentions", layers, size=32, classes=10)


def test_maxvit_and_swin_attention_validate_generate_and_run_in_one_model(tmp_path):
    bp = both_attentions(swin_first=False)
    path = tmp_path / "both.yaml"
    path.write_text(yaml.safe_dump(bp.raw, sort_keys=False))
    validated = scaffold("validate", str(path), cwd=tmp_path)
    assert validated.returncode == 0, validated.stdout + validated.stderr
    dest = tmp_path / "both"
    new_project(bp, dest, "both", git=False)
    model_class = getattr(import_generated(dest, "model"), build_plan(bp).class_name)
    torch.manual_seed(0)
    model = model_class().eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    # one helper, defined once, MaxViT's (positions, positions); Swin's buffers flat, as its own
    code = (dest / "both" / "model.py").read_text()
    assert code.count("def relative_position_index(") == 1
    assert code.count("relative_position_index(window).flatten())") == 2
    buffers = dict(model.named_buffers())
    assert buffers["attention.attn_layer.1.relative_position_index"].shape == (16, 16)
    assert buffers["attn1.relative_position_index"].shape == (256,)
    assert buffers["attn2.relative_position_index"].shape == (256,)


def test_both_attentions_in_either_order_are_counted_as_torch_counts_them():
    for swin_first in (True, False):
        check_counts(both_attentions(swin_first))


def test_swins_attention_in_a_model_with_maxvits_is_torchvisions():
    """The flattened shared index gives the same buffer, so torchvision's weights load strictly
    and the attention computes the same function."""
    from torchvision.models.swin_transformer import ShiftedWindowAttention

    namespace = model_module(both_attentions(swin_first=True))
    torch.manual_seed(0)
    theirs = ShiftedWindowAttention(32, [4, 4], [2, 2], 2).eval()
    ours = namespace["ShiftedWindowAttention"](32, 2, window=4, shift=2).eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(2, 8, 8, 32)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=1e-5)


def test_each_attention_alone_keeps_its_own_helper():
    maxvit = model_code(blueprint_with_layers("m", [STEM, MAXVIT, LAST, *HEAD], size=32))
    swin = model_code(blueprint_with_layers("s", [STEM, LAST, SWIN, *HEAD], size=32))
    assert "def relative_position_index(size: int)" in maxvit and ".flatten())" not in maxvit
    assert "def relative_position_index(window: int)" in swin
    assert "relative_position_index(window))" in swin


# --- size expressions as written by hand --------------------------------------------------------


def test_a_defined_block_writes_sizes_without_multiplying_by_one_or_adding_zero():
    """Flattening (C, 1, 1) gives `in_channels`, not `1 * in_channels * 1 * 1`; a product of two
    arguments stays (another use may give other values), and the sizes are still right."""
    bp = blueprint(
        "[conv: 8, head: {hidden: 16}, linear: classes]",
        """
head:
  params: {hidden: 32, scale: 1}
  layers:
    - adaptive_avg_pool: 1
    - flatten
    - linear: $hidden
    - relu
    - linear: $hidden + 0 - 0
    - linear: $1 * hidden * scale // 1
""",
    )
    code = model_code(bp)
    assert "self.fc1 = nn.Linear(in_channels, hidden)" in code
    assert "self.fc2 = nn.Linear(hidden, hidden)" in code
    assert "self.fc3 = nn.Linear(hidden, hidden * scale)" in code
    assert "1 *" not in code and "+ 0" not in code and "- 0" not in code
    plan, _, model = model_of(bp)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert sum(p.numel() for p in model.parameters()) == plan.total_params


# --- floats as people write them ----------------------------------------------------------------


def test_model_py_writes_floats_with_short_exponents_that_give_the_same_float():
    bp = blueprint("""
- conv: {out: 8, padding: 1}
- residual: {body: [conv: {out: 8, padding: 1}], layer_scale: 1.0e-6}
- batch_norm: {eps: 2.5e-5}
- global_avg_pool
- flatten
- linear: classes
""")
    code = model_code(bp)
    assert "torch.full((8, 1, 1), 1e-6)" in code and "eps=2.5e-5" in code
    assert "e-0" not in code and "e+" not in code
    for value in (1e-6, 2.5e-5, 1e-300, 5e-324, 1e16, 1.2345678901234568e17, 0.1, -1e-7, 3.0):
        text = float_literal(value)
        assert float(text) == value and "e-0" not in text and "e+" not in text
    assert float_literal(1e-6) == "1e-6" and float_literal(1e16) == "1e16"


# --- a transform written twice ------------------------------------------------------------------

REPEATED = """\
name: repeated
input: {channels: 3, height: 32, width: 32}
model:
  layers: [conv: 8, global_avg_pool, flatten, linear: classes]
data:
  dataset: synthetic
  classes: 3
  transforms:
    train:
      - flip
      - horizontal_flip
      - random_crop: {padding: 4}
      - random_horizontal_flip
    eval: [resize: 32]
train:
  epochs: 1
"""


def test_a_transform_written_again_in_a_split_gets_a_note_at_the_repeat(tmp_path):
    path = tmp_path / "repeated.yaml"
    path.write_text(REPEATED)
    result = scaffold("validate", str(path), cwd=tmp_path)
    assert result.returncode == 0 and result.stdout == "ok\n", result.stderr
    notes = result.stderr.splitlines()
    assert len(notes) == 4, notes  # two notes, a hint each
    for line, position in ((11, 1), (13, 3)):
        assert notes.pop(0) == (
            f"note: {path}:{line}:9: data.transforms.train[{position}] (random_horizontal_flip): "
            "random_horizontal_flip again (the first is on line 10): each flip is drawn by "
            "itself, so an image ends mirrored with probability 0.5, as with one flip at 0.5"
        )
        assert notes.pop(0) == (
            "  hint: `flip`, `horizontal_flip`, `hflip` and `random_horizontal_flip` are one "
            "transform; keep one, with `p` the probability you want, unless the repeat is meant"
        )


def test_the_note_says_what_a_repeat_does_and_a_single_transform_gets_none(tmp_path):
    from scaffold.advice import advice
    from scaffold.blueprint import load_blueprint

    def notes(train: str, eval_: str = "[resize: 32]") -> list[str]:
        path = tmp_path / "bp.yaml"
        path.write_text(REPEATED.split("  transforms:")[0] + TRANSFORMS.format(train, eval_))
        return [str(note) for note in advice(load_blueprint(path))]

    assert notes("[flip, random_crop: {padding: 4}]") == []
    (twice,) = notes("[flip: 1.0, random_crop: {padding: 4}, flip: 1.0]")
    assert "ends mirrored with probability 0\n  hint: " in twice
    (rand,) = notes("[rand_augment, randaugment: 5]")
    assert "rand_augment again (the first is on line 9)" in rand
    assert "every image goes through each, one after the other" in rand
    assert "`randaugment` and `rand_augment` are one transform; keep one" in rand
    (resize,) = notes("[random_crop: {padding: 4}]", "[resize: 40, resize: 32]")
    assert "data.transforms.eval[1] (resize): resize again" in resize
    assert "hint: keep one, unless the repeat is meant" in resize


TRANSFORMS = """\
  transforms:
    train: {}
    eval: {}
train:
  epochs: 1
"""
