"""configs/default.yaml: each of its settings changes what runs (or is informational, for the
reason given), and `--set KEY=VALUE` takes any of them and refuses what the config does not hold."""

import csv
import functools
import json
from pathlib import Path

import pytest
import torch
import yaml
from torchvision.io import write_png

from maxvit_t import data, train
from maxvit_t.model import MaxVit
from maxvit_t.phases import make_optimizer, make_schedule, weight_decay_groups

# --set settings that keep the data small and the batches quick
SMALL = [
    "data.synthetic.train_size=8",
    "data.synthetic.val_size=4",
    "data.num_workers=0",
    "train.batch_size=2",
]
# the settings the test builds something from: what it builds, and the value it sets
PROBED = {
    "seed": ("data", 1),
    "data.root": ("data", "{folder}"),
    "data.num_workers": ("loader", 1),
    "data.val_split": ("folder", 0.5),
    "data.synthetic.train_size": ("data", 12),
    "data.synthetic.val_size": ("data", 8),
    "train.optimizer.lr": ("optimizer", 2.5e-5),
    "train.optimizer.betas": ("optimizer", [0.5, 0.6]),
    "train.optimizer.eps": ("optimizer", 0.1),
    "train.optimizer.weight_decay": ("optimizer", 0.025),
    "train.schedule.warmup_factor": ("schedule", 0.5),
    "train.schedule.min_lr": ("schedule", 2.5e-5),
    "train.schedule.warmup_epochs": ("schedule", 3),
    "train.mixup_alpha": ("mix", 1.6),
    "train.no_weight_decay": ("weight_decay", []),
}
# the settings one short training run shows at work, and their values in it
RUN = {
    "train.epochs": 1,
    "train.batch_size": 3,
    "train.grad_clip": 0.25,
    "train.label_smoothing": 0.25,
}
# names of code this project does not have, refused
REFUSED = {"train.optimizer.name": "sgd", "train.schedule.name": "constant"}
# settings that change no number of a run, and why they are there
INFORMATIONAL = {}
STEPS = 3  # optimizer steps an epoch, for a schedule that moves every step


def config(*settings: str, flags: tuple = ()) -> dict:
    """configs/default.yaml with SMALL and `settings` (KEY=VALUE) set, as train.py reads it."""
    args = train.parse_args([*flags, *(f"--set={setting}" for setting in (*SMALL, *settings))])
    return train.load_config(args)


def at(settings, key: str):
    """The value at `key` (data.val_split, train.optimizer.lr)."""
    for part in key.replace("]", "").replace("[", ".").split("."):
        settings = settings[int(part) if isinstance(settings, list) else part]
    return settings


def leaves(settings, path: str = ""):
    """Each setting with its path; lists of mappings by index, other lists one setting."""
    if isinstance(settings, dict):
        for key, value in settings.items():
            yield from leaves(value, f"{path}.{key}".lstrip("."))
    elif isinstance(settings, list) and settings and isinstance(settings[0], dict):
        for index, value in enumerate(settings):
            yield from leaves(value, f"{path}[{index}]")
    else:
        yield path, settings


def test_every_setting_is_checked_or_informational():
    with open(train.DEFAULT_CONFIG, encoding="utf-8") as f:
        settings = dict(leaves(yaml.safe_load(f)))
    assert sorted(settings) == sorted([*PROBED, *RUN, *REFUSED, *INFORMATIONAL])


def optimizer(settings: dict, key: str):
    """The optimizer made from the settings around `key`: its kind and hyperparameters."""
    made = make_optimizer(
        [torch.nn.Parameter(torch.ones(2))],
        at(settings, key.rpartition(".")[0]),
        torch.device("cpu"),
    )
    return type(made), {
        name: value for name, value in made.param_groups[0].items() if name != "params"
    }


def schedule(settings: dict, key: str):
    """The learning rate of each step of the schedule made from the settings around `key`, and of a
    few past its end."""
    recipe = at(settings, key.rpartition(".")[0].rpartition(".")[0])
    made = make_optimizer(
        [torch.nn.Parameter(torch.ones(2))], recipe["optimizer"], torch.device("cpu")
    )
    moves = make_schedule(made, recipe["schedule"], recipe["epochs"], STEPS)
    rates = []
    for _ in range((recipe["epochs"] + 4) * STEPS):
        rates.append(made.param_groups[0]["lr"])
        made.step()
        moves.step()
    return type(moves), rates


def datasets(settings: dict, key: str):
    """The data train.py loads with the settings: what and how much, and the first validation
    sample's tensors (shapes and sums)."""
    made = train.load_data(train.parse_args([]), settings)
    first = made.val[next(iter(data.SeededSampler(len(made.val), 0, shuffle=False)))]
    tensors = {
        name: (tuple(v.shape), float(v.float().sum()))
        for name, v in first.items()
        if isinstance(v, torch.Tensor)
    }
    return made.description, made.classes, len(made.train), len(made.val), tensors


def loader(settings: dict, key: str):
    """The training loader's processes, as train.py makes it."""
    made = train.load_data(train.parse_args([]), settings).train
    sampler = data.SeededSampler(len(made), 0, shuffle=True)
    return data.make_loader(made, sampler, 2, settings["data"]["num_workers"], False).num_workers


@functools.cache
def model() -> MaxVit:
    return MaxVit()


def weight_decay(settings: dict, key: str):
    """How many parameters the optimizer's groups with and without weight decay hold."""
    groups = weight_decay_groups(
        model(), list(model().parameters()), settings["train"]["no_weight_decay"]
    )
    return [len(group["params"]) for group in groups]


def mix(settings: dict, key: str):
    """The soft labels of a few mixed batches."""
    mixer = train.BatchMix(settings["train"], 3, 0, 0)
    images, labels = torch.rand(4, 3, 8, 8), torch.tensor([0, 1, 2, 0])
    return [mixer(images, labels, 0, step)[1].tolist() for step in range(8)]


def folder(root: Path) -> Path:
    """Two classes of six small images each, as class folders (validation held out of them)."""
    for label in ("a", "b"):
        (root / label).mkdir(parents=True)
        for index in range(6):
            pixels = torch.randint(
                0,
                256,
                (3, 24, 24),
                dtype=torch.uint8,
                generator=torch.Generator().manual_seed(index),
            )
            write_png(pixels, str(root / label / f"{index}.png"))
    return root


PROBES = {
    "data": datasets,
    "loader": loader,
    "folder": datasets,
    "optimizer": optimizer,
    "schedule": schedule,
    "mix": mix,
    "weight_decay": weight_decay,
}


@pytest.mark.parametrize("key", PROBED)
def test_setting_changes_what_is_built(key, tmp_path):
    probe, value = PROBED[key]
    if value == "{folder}" or probe == "folder":
        root = json.dumps(str(folder(tmp_path / "data")))
        value = json.loads(root) if value == "{folder}" else value
    given = (f"data.root={root}",) if probe == "folder" else ()
    before = PROBES[probe](config(*given), key)
    after = PROBES[probe](config(*given, f"{key}={json.dumps(value)}"), key)
    assert before != after


@pytest.mark.parametrize("key", REFUSED)
def test_code_the_project_lacks_is_refused(key, capsys):
    with pytest.raises(SystemExit) as stop:
        config(f"{key}={json.dumps(REFUSED[key])}")
    assert stop.value.code == 2 and f"--set {key}: takes" in capsys.readouterr().err


def test_settings_reach_the_training_run(tmp_path, monkeypatch):
    seen = {"batch_size": set(), "label_smoothing": [], "grad_clip": set()}
    make_loader, clip = data.make_loader, torch.nn.utils.clip_grad_norm_

    def loading(dataset, sampler, batch_size, *args, **kwargs):
        seen["batch_size"].add(batch_size)
        return make_loader(dataset, sampler, batch_size, *args, **kwargs)

    class Loss(torch.nn.CrossEntropyLoss):
        def __init__(self, *args, **kwargs):
            seen["label_smoothing"].append(kwargs.get("label_smoothing"))
            super().__init__(*args, **kwargs)

    def clipping(parameters, max_norm, *args, **kwargs):
        seen["grad_clip"].add(max_norm)
        return clip(parameters, max_norm, *args, **kwargs)

    monkeypatch.setattr(data, "make_loader", loading)
    monkeypatch.setattr(torch.nn, "CrossEntropyLoss", Loss)
    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", clipping)
    flags = [
        "--device",
        "cpu",
        "--dataset",
        "synthetic",
        "--limit-batches",
        "2",
        "--no-pretrained",
        "--out",
        str(tmp_path),
    ]
    settings = [f"--set={key}={json.dumps(value)}" for key, value in RUN.items()]
    train.main([*flags, *(f"--set={setting}" for setting in SMALL), *settings])
    with open(tmp_path / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == RUN["train.epochs"]
    assert seen["batch_size"] == {RUN["train.batch_size"]}
    assert seen["label_smoothing"] == [RUN["train.label_smoothing"]]
    assert seen["grad_clip"] == {RUN["train.grad_clip"]}
    saved = torch.load(tmp_path / "last.pt", weights_only=False)["config"]
    assert all(at(saved, key) == value for key, value in RUN.items())  # a resume goes on with them
    with pytest.raises(SystemExit) as stop:  # the optimizer's state holds its settings
        train.main(
            [*flags, "--resume", str(tmp_path / "last.pt"), "--set=train.optimizer.name=adamw"]
        )
    assert stop.value.code == 2


@pytest.mark.parametrize(
    "setting, refusal",
    [
        ("train.optimizer.learning_rate=0.1", "no such setting"),
        ("train.epochs=2.5", "takes a whole number, not 2.5"),
        ("train.optimizer.lr=fast", "takes a number, not 'fast'"),
        ("seed=[1, 2]", "takes a whole number"),
        ("train.batch_size=0", "takes a number from 1 up, not 0"),
        ("train.label_smoothing=-0.1", "takes a number from 0 up, not -0.1"),
        ("data.val_split=1.5", "takes a number up to 0.9, not 1.5"),
        ("data.synthetic=100", "a group of settings: set one of data.synthetic.train_size"),
        ("seed.value=1", "seed is one value"),
        ("seed", "expected KEY=VALUE"),
    ],
)
def test_set_refuses_what_the_config_does_not_hold(setting, refusal, capsys):
    with pytest.raises(SystemExit) as stop:
        config(setting)
    error = capsys.readouterr().err
    assert stop.value.code == 2 and refusal in error and "Traceback" not in error


def test_set_and_a_flag_for_one_setting_are_refused(capsys):
    with pytest.raises(SystemExit) as stop:
        config("train.epochs=3", flags=("--epochs", "2"))
    assert stop.value.code == 2 and "--epochs gives it too" in capsys.readouterr().err


def test_set_reads_yaml_values_of_the_setting_kind():
    settings = config(
        "train.optimizer.weight_decay=5e-4",
        "train.optimizer.lr=1",
        "train.grad_clip=2",
        "train.label_smoothing=0.1",
    )
    assert at(settings, "train.optimizer.weight_decay") == 0.0005
    assert at(settings, "train.optimizer.lr") == 1.0 and isinstance(
        at(settings, "train.optimizer.lr"), float
    )
    assert settings["train"]["grad_clip"] == 2.0 and settings["train"]["label_smoothing"] == 0.1
    assert config("train.grad_clip=null")["train"]["grad_clip"] is None


def test_help_says_each_default_once(capsys):
    with pytest.raises(SystemExit):
        train.parse_args(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: None)" not in text and ") (default:" not in text and "--set KEY=VALUE" in text
