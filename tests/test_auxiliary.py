"""`auxiliary`: a side head whose class scores count in training only, its loss weighted
(GoogLeNet's aux1 and aux2, Inception v3's AuxLogits). The unit's shapes, counts and refusals;
the code it gives model.py, train.py and bench.py; and short CPU trainings of a small model with
one, with the training features that touch the model's output (EMA, gradient accumulation,
mixup and cutmix with label smoothing, channels_last, phases and the feature cache)."""

from __future__ import annotations

import copy
import csv

import pytest
import torch
from digits import digits_folder
from generated import import_generated, model_module, project_for, small_san
from torch.utils.flop_counter import FlopCounterMode

from scaffold.blueprint import blueprint_from_data
from scaffold.errors import BlueprintError
from scaffold.plan import build_plan
from scaffold.render import new_project

HEAD = [{"global_avgpool": None}, "flatten", {"linear": "classes"}]
SIDE = {"auxiliary": {"weight": 0.5, "layers": HEAD}}


def small(layers: list, blocks: dict | None = None, classes: int = 4, **train) -> dict:
    return {
        "name": "auxnet",
        "input": {"channels": 3, "height": 16, "width": 16},
        "blocks": blocks or {},
        "model": {"layers": layers},
        "data": {"dataset": "synthetic", "classes": classes},
        "train": {"epochs": 1, "batch_size": 8, "optimizer": {"name": "sgd", "lr": 0.05}, **train},
    }


LAYERS = [
    {"conv": {"out": 8, "kernel": 3, "padding": 1}},
    "batch_norm",
    "relu",
    SIDE,
    {"maxpool": 2},
    {"conv": {"out": 16, "kernel": 3, "padding": 1}},
    "relu",
    {"global_avgpool": None},
    "flatten",
    {"linear": "classes"},
]


def refusal(data: dict):
    with pytest.raises(BlueprintError) as refused:
        build_plan(blueprint_from_data(data))
    [problem] = refused.value.problems
    return problem


def test_a_head_counts_its_parameters_but_no_inference_multiply_adds():
    """inspect's multiply-adds are inference's, in which the heads do not run: torch's
    flop_counter on the model in evaluation mode; its parameters are the model's."""
    blueprint = blueprint_from_data(small(LAYERS))
    plan = build_plan(blueprint)
    assert [(head.name, head.weight, head.var) for head in plan.auxiliary] == [("aux", 0.5, "aux")]
    rows = [row for row in plan.rows if row.module.startswith("aux")]
    assert rows[0].kind == "auxiliary (sequential), training only"
    assert [row.module for row in rows] == ["aux", "aux.0", "aux.1", "aux.2"]
    assert rows[0].params == 8 * 4 + 4 and all(row.macs == 0 for row in rows)
    model = model_module(blueprint)["Auxnet"]().eval()
    assert sum(p.numel() for p in model.parameters()) == plan.total_params
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.randn(1, 3, 16, 16))
    assert plan.total_macs == counter.get_total_flops() // 2
    from scaffold.report import inspect_table

    assert (
        "of which 36 parameters in the auxiliary heads (aux), which run in training only: their "
        "multiply-adds are not counted"
    ) in inspect_table(blueprint, plan).splitlines()


def test_in_training_the_model_returns_the_heads_scores_and_in_evaluation_the_logits_alone():
    blueprint = blueprint_from_data(small(LAYERS))
    module = model_module(blueprint)
    model = module["Auxnet"]().train()
    x = torch.randn(2, 3, 16, 16)
    logits, aux_logits = model(x)
    assert logits.shape == (2, 4) and [a.shape for a in aux_logits] == [(2, 4)]
    model.eval()
    with torch.no_grad():
        out = model(x)
    assert isinstance(out, torch.Tensor) and out.shape == (2, 4)
    exported = torch.export.export(model, (x,))  # export.py's: the evaluation graph
    torch.testing.assert_close(exported.module()(x), out)
    code = _model_code(blueprint)
    assert (
        "        aux = self.aux(x) if self.training else None  # (N, 4), in training only\n" in code
    )
    assert "        if self.training:\n            return x, [aux]\n        return x\n" in code


def test_a_model_without_heads_has_none_of_their_code():
    layers = [layer for layer in LAYERS if layer is not SIDE]
    code = _model_code(blueprint_from_data(small(layers)))
    assert "self.training" not in code and "aux =" not in code
    assert "    def forward(self, x: torch.Tensor) -> torch.Tensor:\n" in code


def test_a_defined_head_takes_the_models_classes_and_the_heads_name():
    """torchvision's `self.aux1 = InceptionAux(512, num_classes=num_classes)`."""
    blocks = {
        "side": {
            "params": {"num_classes": None},
            "layers": [*HEAD[:2], {"linear": {"out": "$num_classes", "name": "fc"}}],
        }
    }
    layers = copy.deepcopy(LAYERS)
    layers[3] = {
        "auxiliary": {
            "weight": 0.3,
            "name": "aux1",
            "layers": [{"side": {"num_classes": "classes"}}],
        }
    }
    blueprint = blueprint_from_data(small(layers, blocks))
    code = _model_code(blueprint)
    assert "        self.aux1 = Side(8, num_classes=num_classes)\n" in code
    assert "        self.fc = nn.Linear(in_channels, num_classes)\n" in code  # Side's
    model = model_module(blueprint)["Auxnet"](num_classes=7).train()
    assert set(model.state_dict()) >= {"aux1.fc.weight", "aux1.fc.bias"}
    assert model(torch.randn(2, 3, 16, 16))[1][0].shape == (2, 7)


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (
            lambda d: d["model"]["layers"][3]["auxiliary"].update(
                layers=[*HEAD[:2], {"linear": 5}]
            ),
            "model.layers[3] (auxiliary).layers",
            "an auxiliary head must give one score per class (4), but this one gives 5",
        ),
        (
            lambda d: d["model"]["layers"][3]["auxiliary"].update(layers=["flatten"]),
            "model.layers[3] (auxiliary).layers",
            "an auxiliary head is one module, and flatten is not one with parameters",
        ),
        (
            lambda d: d["model"]["layers"][3]["auxiliary"].update(
                layers=[{"linear": {"out": "classes", "name": "fc9"}}]
            ),
            "model.layers[3] (auxiliary).layers[0] (linear).name",
            "the head's one layer is the head's module, named by the head ('aux')",
        ),
        (
            lambda d: d["model"]["layers"].append(SIDE),
            "model.layers[10] (auxiliary)",
            "an auxiliary head branches off the main path, which must go on to the classifier: "
            "it cannot be the last layer",
        ),
        (
            lambda d: d["model"]["layers"].insert(0, SIDE),
            "model.layers[0] (auxiliary)",
            "an auxiliary head takes the main path's value after a layer, not the input",
        ),
        (
            lambda d: d["model"]["layers"].__setitem__(3, {"residual": [SIDE]}),
            "model.layers[3] (residual).body[0] (auxiliary)",
            "an auxiliary head belongs to the model's own layer list, not to a block, group, "
            "residual or branch: the model returns its scores",
        ),
        (
            lambda d: d["model"]["layers"].__setitem__(3, {"sequential": [SIDE]}),
            "model.layers[3] (sequential).layers[0] (auxiliary)",
            "auxiliary cannot go inside a sequential group",
        ),
    ],
)
def test_a_head_is_refused_by_name_where_it_cannot_be(change, field, message):
    data = small(copy.deepcopy(LAYERS))
    change(data)
    problem = refusal(data)
    assert (problem.field, problem.message) == (field, message)


def test_a_head_in_a_defined_block_is_refused():
    data = small(
        [LAYERS[0], {"holder": None}, *LAYERS[4:]],
        {"holder": {"layers": ["relu", SIDE]}},
    )
    problem = refusal(data)
    assert problem.field == "blocks.holder.layers[1] (auxiliary)"
    assert problem.message.startswith(
        "an auxiliary head belongs to the model's own layer list, not to a block"
    )


def test_a_head_in_a_vqa_model_is_refused():
    data = small_san("auxsan", 5, {"epochs": 1, "batch_size": 4})
    image = data["model"]["image"]
    image.insert(1, {"auxiliary": {"weight": 0.3, "layers": [{"global_avgpool": None}]}})
    problem = refusal(data)
    assert problem.field == "model.image[1] (auxiliary)"
    assert problem.message.startswith("auxiliary heads are for image classifiers")


def test_classes_is_no_argument_of_a_block_inside_a_block():
    blocks = {
        "inner": {"params": {"n": None}, "layers": [{"linear": "$n"}]},
        "outer": {"layers": [{"global_avgpool": None}, "flatten", {"inner": {"n": "classes"}}]},
    }
    problem = refusal(small([*LAYERS[:3], {"outer": None}], blocks))
    assert problem.message.startswith("`classes` is the model's argument, not a defined block's")


def _model_code(blueprint) -> str:
    from generated import _model_template

    return _model_template().render(blueprint=blueprint.raw, package_name="proj", _copier_conf={})


# --- the generated project -------------------------------------------------------------------


def test_googlenets_project_adds_the_weighted_losses_and_lists_the_heads(generated_root):
    dest, _ = project_for("googlenet", generated_root)
    package = dest / "googlenet"
    model = (package / "model.py").read_text()
    assert "\nAUX_WEIGHTS = [0.3, 0.3]\n" in model
    assert 'heads = ("fc.", "aux1.fc2.", "aux2.fc2.")' in model
    train = (package / "train.py").read_text()
    assert "from .model import AUX_WEIGHTS, GoogLeNet, load_pretrained\n" in train
    assert "        loss, logits = training_loss(criterion, model(*inputs), labels)\n" in train
    assert "        loss = loss + weight * criterion(aux.float(), labels)\n" in train
    bench = (package / "bench.py").read_text()
    assert 'training_loss(criterion, model(*model_inputs(batch, run)[0]), batch["label"])' in bench
    readme = (dest / "README.md").read_text()
    assert "`aux1` (0.3) and `aux2` (0.3)" in readme


def test_a_project_without_heads_has_no_training_loss(generated_root):
    dest, _ = project_for("resnet18", generated_root)
    for name in ("train.py", "bench.py", "model.py"):
        text = (dest / "resnet18" / name).read_text()
        assert "training_loss" not in text and "AUX_WEIGHTS" not in text, name


def _train(tmp_path, data: dict, flags: list[str]) -> list[dict]:
    dest = tmp_path / data["name"]
    new_project(blueprint_from_data(data), dest, data["name"], git=False)
    train = import_generated(dest, "train")
    out = tmp_path / "out"
    train.main(["--device", "cpu", "--out", str(out), *flags])
    with open(out / "metrics.csv") as f:
        return list(csv.DictReader(f)), dest, out


def test_a_model_with_a_head_trains_with_ema_accumulation_mixing_and_channels_last(tmp_path):
    """The training step's code paths that take the model's output, with the head's loss: the
    loss logged is the total, and it trains; the average model is evaluated (eval mode: the
    logits alone); bench.py's step measures it."""
    data = small(
        copy.deepcopy(LAYERS),
        ema=True,
        grad_accum_steps=2,
        mixup=0.2,
        cutmix=1.0,
        label_smoothing=0.1,
    )
    data["name"] = "auxall"
    flags = ["--dataset", "synthetic", "--limit-batches", "4", "--channels-last"]
    rows, dest, out = _train(tmp_path, data, flags)
    assert rows[-1]["train_loss"] and rows[-1]["val_ema_acc"]
    saved = torch.load(out / "last.pt", weights_only=False)
    assert any(key.startswith("module.aux.") for key in saved["ema"])
    bench = import_generated(dest, "bench")
    bench.main(["--device", "cpu", "--steps", "1", "--warmup", "0", "--batch-size", "2"])


def test_a_head_trains_in_phases_from_cached_features(tmp_path):
    """B-CNN's way: a first phase trains the heads on the frozen first module's cached outputs,
    a second trains everything."""
    layers = [{"vgg": {"cfg": [8, "M"]}}, SIDE, *LAYERS[5:]]
    phases = [
        {"name": "heads", "epochs": 1, "trainable": ["aux"], "cache_features": True},
        {"name": "all", "epochs": 1, "trainable": "all"},
    ]
    data = small(layers, classes=10, phases=phases)
    data["name"], data["train"] = "auxphases", {**data["train"], "phases": phases}
    del data["train"]["epochs"]
    data["input"]["channels"] = 1
    data["data"] = {
        "dataset": "image_folder",
        "classes": 10,
        "normalize": "half",
        "transforms": {"train": [{"resize": [16, 16]}], "eval": [{"resize": [16, 16]}]},
    }
    digits = digits_folder(tmp_path / "digits", count=400)
    flags = ["--data-root", str(digits), "--workers", "0", "--limit-batches", "2"]
    rows, _, out = _train(tmp_path, data, flags)
    assert [row["phase"] for row in rows] == ["heads", "all"]
    assert (out / "feature_cache").is_dir()
