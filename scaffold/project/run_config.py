"""The run config: configs/default.yaml (every training phase's settings filled in), the keys
train.py requires of it, the rules of --set (choices, least and largest values, kinds), the flags
that give its settings, and the settings and checks of the generated tests (tests/test_config.py,
the SIGTERM run) that run it small."""

from __future__ import annotations

import json
import re
import textwrap
from functools import cached_property

from ..blueprint import Blueprint, Optimizer, Phase, Schedule
from ..features import features_of
from ..style import LINE_LENGTH, py_literal
from .part import Part
from .text import yaml_text


class RunConfig(Part):
    """What a run of the generated project reads and is told (`p.run`): its config, the rules of
    its settings and flags, and the generated tests' small runs of it."""

    @cached_property
    def phases(self) -> list[dict]:
        return resolved_phases(self.blueprint)

    @property
    def has_phases(self) -> bool:
        """More than one phase, or one that trains only some modules: the phases unit is on."""
        return any(unit.name == "phases" for unit in self.features)

    @cached_property
    def config(self) -> dict:
        bp = self.blueprint
        data = bp.data
        # (the data set is the code's: data.py reads its files and no other, so no setting names it)
        config_data: dict = {"root": data.root}
        if self.pieces.any_size:  # a model of one input size has it in its code (--image-size)
            config_data["image_size"] = [self.image.height, self.image.width]
        if self.pieces.loader_workers:  # (a tensor in memory, not augmented, has no workers)
            config_data["num_workers"] = data.num_workers
        config_data["val_split"] = data.val_split
        if data.dataset == "cub":
            config_data["bounding_boxes"] = data.bounding_boxes
        if self.blueprint.is_vqa:
            config_data["answers"] = data.answers
            config_data["min_word_count"] = data.min_word_count
            config_data["max_question_length"] = bp.input.question.max_length
        config_data["synthetic"] = {
            "train_size": data.synthetic.train_size,
            "val_size": data.synthetic.val_size,
        }
        # one phase that trains everything is no phase: its settings are train's own, as in the
        # blueprint, and the project has no code for phases
        train = {} if self.has_phases else {key: self.phases[0][key] for key in RECIPE_KEYS}
        train |= {"grad_clip": bp.train.grad_clip, "label_smoothing": bp.train.label_smoothing}
        train |= self._feature_config
        if self.has_phases:  # `frozen` only where everything else trains (the blueprint's rule)
            train["phases"] = [
                (
                    {key: value for key, value in phase.items() if key != "frozen" or value}
                    if phase["trainable"] != "all"
                    else phase
                )
                for phase in self.phases
            ]
        return {"seed": bp.train.seed, "data": config_data, "train": train}

    @property
    def _feature_config(self) -> dict:
        """The settings of the training features the blueprint switches on (and no others)."""
        train = self.blueprint.train
        config: dict = {}
        for unit in self.features:
            config |= unit.config(train)
        return config

    @property
    def config_keys(self) -> list[str]:
        """The config's settings that train.py's read_config requires (a phase's own are added
        there, for each phase the file has), in chunks that fit a line of code."""
        workers = ["data.num_workers"] if self.pieces.loader_workers else []
        size = ["data.image_size"] if self.pieces.any_size else []
        keys = ["seed", *size, *workers, "data.root", "data.val_split"]
        keys += ["train.grad_clip", "train.label_smoothing"]
        recipe = ["epochs", "batch_size", "optimizer.lr", "schedule.name"]
        keys += ["train.phases[0]"] if self.has_phases else [f"train.{key}" for key in recipe]
        for key, value in self._feature_config.items():
            inner = value.keys() if isinstance(value, dict) else [None]
            keys += [f"train.{key}" + (f".{part}" if part else "") for part in inner]
        return textwrap.wrap(" ".join(keys), LINE_LENGTH - 16)  # `    keys += " ` and `"`

    @property
    def setting_choices(self) -> str:
        """train.py's CHOICES, as a literal."""
        return py_literal(self._choices)

    @cached_property
    def _choices(self) -> dict[str, tuple[str, ...]]:
        """For --set, the values a setting that names code may take, those this project has code
        for (an optimizer or schedule whose settings its entry holds, and no other), by path ([]
        is any index)."""
        x, choices = self.pieces, {}
        paths = [f"train.phases[{i}]" for i in range(len(self.phases))] if x.phases else ["train"]
        for path, phase in zip(paths, self.phases):
            optimizer, schedule = phase["optimizer"], phase["schedule"]
            choices[f"{path}.optimizer.name"] = tuple(
                name for name in x.optimizers if OPTIMIZER_DEFAULTS[name].keys() <= optimizer.keys()
            )
            choices[f"{path}.schedule.name"] = tuple(
                name for name in x.schedules if self._schedule_reads(name) <= schedule.keys()
            )
            if "metric" in schedule:
                choices[f"{path}.schedule.metric"] = ("val_acc", "val_loss")
        if x.phases:
            choices["train.phases[].trainable"] = ("all",)
        for unit in self.features:
            choices |= unit.choices(self.blueprint.train)
        return choices

    @property
    def setting_least(self) -> str:
        """train.py's LEAST, for --set: the least value of the counts that must be 1 or more (and
        of the image size, where the model takes other sizes), by path ([] is any index)."""
        recipe = "train.phases[]" if self.pieces.phases else "train"
        counts = [f"{recipe}.epochs", f"{recipe}.batch_size", f"{recipe}.schedule.step_size"]
        counts += ["data.synthetic.train_size", "data.synthetic.val_size"]
        counts += [path for unit in self.features for path in unit.least]
        counts += ["data.answers", "data.max_question_length"]
        paths = {re.sub(r"\[\d+\]", "[]", path) for path, _ in _leaves(self.config)}
        least = {path: 1 for path in counts if path in paths}
        if self.pieces.any_size:
            least["data.image_size[]"] = self.plan.min_image_size
        return py_literal(least)

    @property
    def setting_most(self) -> str:
        """train.py's MOST, for --set: the largest value of the bounded numbers, as a blueprint
        may write them (a validation split of 0.9 at most), by path ([] is any index)."""
        recipe = "train.phases[]" if self.pieces.phases else "train"
        most = {"data.val_split": 0.9, "train.label_smoothing": 1}
        most |= {path: value for unit in self.features for path, value in unit.most.items()}
        most |= {f"{recipe}.optimizer.{key}": 1 for key in ("momentum", "weight_decay")}
        paths = {re.sub(r"\[\d+\]", "[]", path) for path, _ in _leaves(self.config)}
        return py_literal({path: value for path, value in most.items() if path in paths})

    @property
    def flag_settings(self) -> str:
        """train.py's FLAG_SETTINGS: the flags (by argparse's names) that give a setting of the
        config, and its path ([] is any index)."""
        x = self.pieces
        recipe = "train.phases[]" if x.phases else "train"
        flags = {"seed": "seed", "data_root": "data.root", "val_split": "data.val_split"}
        flags |= {"epochs": f"{recipe}.epochs", "batch_size": f"{recipe}.batch_size"}
        flags |= {"lr": f"{recipe}.optimizer.lr"}
        if x.any_size:
            flags["image_size"] = "data.image_size"
        if x.loader_workers:
            flags["workers"] = "data.num_workers"
        for unit in self.features:
            flags |= unit.flags
        return py_literal(flags)

    def _schedule_reads(self, name: str) -> set[str]:
        """The settings phases.py's make_schedule reads for the schedule `name`."""
        reads = {"step": {"step_size"}, "multistep": {"milestones"}}.get(name, set())
        reads |= SCHEDULE_DEFAULTS[name].keys()
        for unit in self.features:
            reads |= unit.schedule_reads(self.project, name)
        return reads

    @property
    def setting_kinds(self) -> str:
        """train.py's KINDS, for --set: the kinds of value of the settings whose value in the
        config does not tell, by path ([] is any index): those that may be null, a phase's
        `trainable` (all, or a list of modules), the items of empty lists."""
        kinds: dict[str, tuple[str, ...]] = {}
        nullable = NULLABLE_SETTINGS | {k: v for u in self.features for k, v in u.nullable.items()}

        def walk(value, path: str) -> None:
            if isinstance(value, dict):
                for key, inner in value.items():
                    walk(inner, f"{path}.{key}".lstrip("."))
            elif isinstance(value, list) and value and isinstance(value[0], dict):
                for inner in value:
                    walk(inner, f"{path}[]")
            elif path.rpartition(".")[2] in nullable:
                kinds[path] = (nullable[path.rpartition(".")[2]], "type(None)")

        walk(self.config, "")
        if self.pieces.phases:
            kinds["train.phases[].trainable"] = ("str", "list")
            kinds["train.phases[].trainable[]"] = kinds["train.phases[].frozen[]"] = ("str",)
        for unit in self.features:
            kinds |= unit.kinds(self.blueprint.train)
        tuples = {
            path: ", ".join(kind) + ("," if len(kind) == 1 else "") for path, kind in kinds.items()
        }
        inner = (f"{py_literal(path)}: ({kind})" for path, kind in tuples.items())
        return "{" + ", ".join(inner) + "}"

    # --- the generated tests' runs ------------------------------------------------------------

    @property
    def small_settings(self) -> list[str]:
        """--set settings that make the data small and quick, for the test's configs."""
        return [f"{key}={json.dumps(value)}" for key, value in self._small.items()]

    @cached_property
    def _small(self) -> dict:
        settings = {"data.synthetic.train_size": 8, "data.synthetic.val_size": 4}
        if self.pieces.loader_workers:
            settings["data.num_workers"] = 0
        if self.pieces.any_size:
            size = self.smoke_image_size
            settings["data.image_size"] = [
                size,
                round(size * self.image.width / self.image.height),
            ]
        for path in self._recipe_paths:
            settings[f"{path}.batch_size"] = 2
        return settings

    @property
    def _recipe_paths(self) -> list[str]:
        """Where the config keeps each phase's epochs, batch size, optimizer and schedule."""
        if self.pieces.phases:
            return [f"train.phases[{i}]" for i in range(len(self.phases))]
        return ["train"]

    @cached_property
    def config_checks(self) -> dict:
        """How tests/test_config.py shows that each setting of the config changes what runs: by
        "probe" (what the test builds and compares, with `value` for the setting and its default),
        by "run" (one short training run, `value` for each setting, the test checking where it
        went) or "refused" (`value`: a name this project has no code for); or "informational",
        with the reason. Every setting of the config is in one of them."""
        checks: dict = {"probe": {}, "run": {}, "refused": {}, "informational": {}}
        choices = self._choices
        for path, value in _leaves(self.config):
            value, name = self._small.get(path, value), path.rpartition(".")[2]
            group = path.rpartition(".")[0].rpartition(".")[2]
            unit_check = next(
                filter(None, (u.setting_check(path, value) for u in self.features)), None
            )
            if unit_check is not None:  # a training feature's own setting
                checks[unit_check[0]][path] = unit_check[1]
            elif group in ("optimizer", "schedule") and name == "name":
                others = [n for n in choices[path] if n != value]
                if others:
                    checks["probe"][path] = (group, others[0])
                else:  # a name the project has no code for
                    known = OPTIMIZER_DEFAULTS if group == "optimizer" else SCHEDULE_DEFAULTS
                    checks["refused"][path] = next(n for n in known if n not in choices[path])
            elif group == "optimizer":
                checks["probe"][path] = ("optimizer", _changed(name, value))
            elif group == "schedule":
                lr = self._at(path.rpartition(".")[0].rpartition(".")[0])["optimizer"]["lr"]
                changed = lr * 0.5 if name == "min_lr" else _changed(name, value)
                checks["probe"][path] = ("schedule", changed)
            elif name in ("epochs", "batch_size", "label_smoothing", "grad_clip"):
                checks["run"][path] = _run_value(name, value, path, self._recipe_paths)
            elif name in ("trainable", "frozen"):
                first = self.plan.first_module.module
                other = [first] if value == "all" else ("all" if name == "trainable" else [])
                if value == []:
                    other = [first]
                checks["probe"][path] = ("trainable", other)
            elif name == "name":
                checks["informational"][
                    path
                ] = "the phase's name, in the log and in metrics.csv's phase column"
            elif path == "data.num_workers":
                checks["probe"][path] = ("loader", 1)
            elif path == "data.root":
                checks["probe"][path] = ("data", "{folder}")
            elif path in ("data.val_split", "data.bounding_boxes"):
                checks["probe"][path] = ("folder", _changed(name, value))
            elif path == "data.image_size":
                checks["probe"][path] = ("data", [2 * side for side in value])
            elif path.startswith("data.") or path == "seed":
                checks["probe"][path] = ("data", _changed(name, value))
            else:
                raise ValueError(f"tests/test_config.py has no check for the setting {path}")
        return checks

    @property
    def last_recipe(self) -> str:
        """Where the config keeps the last phase's settings (or train's own)."""
        return self._recipe_paths[-1]

    def _at(self, path: str):
        """The config's value at `path` (train.phases[0].optimizer)."""
        value = self.config
        for part in path.replace("]", "").replace("[", ".").split("."):
            value = value[int(part) if isinstance(value, list) else part]
        return value

    @property
    def extra_metrics(self) -> list[str]:
        """The columns metrics.csv has after the ones every project writes (checkpoint.METRICS)."""
        x = self.pieces
        columns = ["phase"] if x.phases else []
        columns += [column for unit in self.features for column in unit.metrics(self.project)]
        return columns

    @property
    def config_yaml(self) -> str:
        return yaml_text(self.config)

    @property
    def total_epochs(self) -> int:
        return sum(p["epochs"] for p in self.phases)

    @property
    def batch_size(self) -> int:
        return self.phases[0]["batch_size"]

    @property
    def bench_batch_size(self) -> int:
        return 32 if self.image.height >= 224 else 128

    @property
    def test_batches_per_epoch(self) -> int:
        """Batches an epoch of the generated tests' SIGTERM run: two optimizer steps (of
        `batches_per_step` each), so that the signal falls in the middle of an epoch."""
        return 2 * self.batches_per_step

    @property
    def batches_per_step(self) -> int:
        """Batches an optimizer step takes (several, where a feature adds up their gradients)."""
        train = self.blueprint.train
        return max((unit.batches_per_step(train) for unit in self.features), default=1)

    @property
    def sigterm_step(self) -> int:
        """The batch during which that run sends itself SIGTERM: the first of its last epoch (an
        epoch a phase)."""
        return self.test_batches_per_epoch * (len(self.phases) - 1) + 1

    @property
    def smoke_image_size(self) -> int:
        """A small image size for quick CPU runs of models that accept any size."""
        if not self.plan.size_agnostic:
            return self.image.height
        return max(self.plan.min_image_size, min(32, self.image.height))

    @property
    def resumed_flags(self) -> str:
        """RESUMED_FLAGS: the flags that change what a run computes, as a tuple literal."""
        x = self.pieces
        flags = ["limit_batches", "skip_nonfinite", "precision"]
        flags += ["skip_bad_images"] if not x.in_memory else []
        flags += ["data_on_device"] if x.on_device else []
        flags += [name for unit in self.features for name in unit.resumed_flags]
        return py_literal(tuple(flags))


def _leaves(config, path: str = ""):
    """Each setting of a config with its path (train.phases[0].optimizer.lr): lists of mappings
    are walked by index, other lists are one setting."""
    if isinstance(config, dict):
        for key, value in config.items():
            yield from _leaves(value, f"{path}.{key}".lstrip("."))
    elif isinstance(config, list) and config and isinstance(config[0], dict):
        for index, value in enumerate(config):
            yield from _leaves(value, f"{path}[{index}]")
    else:
        yield path, config


# values tests/test_config.py sets settings to, where half or double the default will not do
CHANGED = {
    "momentum": 0.5, "betas": [0.5, 0.6], "alpha": 0.5, "eps": 0.1,
    "answers": 2, "min_word_count": 3, "max_question_length": 2, "milestones": [1],
    "val_split": 0.5, "patience": 1, "factor": 0.5, "gamma": 0.5,
}  # fmt: skip


def _changed(name: str, value):
    """Another value than `value` for the setting `name`, that changes what runs."""
    if name == "metric":
        return "val_loss" if value == "val_acc" else "val_acc"
    if isinstance(value, bool):
        return not value
    other = CHANGED.get(name)
    if other is not None and other != value:
        return other
    if name == "train_size" or name == "val_size":
        return value + 4
    if isinstance(value, int):
        return value + 1 if name != "patience" else value + 2
    if isinstance(value, float):
        return value * 0.5 if value else 0.1
    if isinstance(value, list) and value and all(isinstance(v, (int, float)) for v in value):
        return [v + 1 if isinstance(v, int) else v * 0.5 for v in value]
    raise ValueError(f"tests/test_config.py has no other value for {name}={value!r}")


def _run_value(name: str, value, path: str, recipes: list[str]):
    """The value of a setting in tests/test_config.py's run: one epoch a phase (two where the
    config says one), a batch size of its own for each phase, label smoothing and a clip."""
    if name == "epochs":
        return 1 if value != 1 else 2
    if name == "batch_size":
        return 3 + recipes.index(path.rpartition(".")[0])
    return 0.25 if value != 0.25 else 0.5


# the settings that may be null (off, or: not given), by name, and what they are otherwise
NULLABLE_SETTINGS = {"root": "str", "grad_clip": "float"}

# the settings of a phase that a project without phases keeps directly under train
RECIPE_KEYS = ("epochs", "batch_size", "optimizer", "schedule")


def resolved_phases(bp: Blueprint) -> list[dict]:
    """The training phases with every setting filled in (phase settings over train's)."""
    train = bp.train
    phases: list[Phase] = train.phases or [Phase(name="train", epochs=train.epochs)]
    result = []
    units = features_of(bp)
    for i, phase in enumerate(phases):
        optimizer = _merge_optimizer(train.optimizer, phase.optimizer)
        schedule = phase.schedule or train.schedule or Schedule(name="constant")
        result.append(
            {
                "name": phase.name or (f"phase{i + 1}" if len(phases) > 1 else "train"),
                "epochs": phase.epochs,
                "batch_size": phase.batch_size or train.batch_size,
                "trainable": phase.trainable,
                "frozen": list(phase.frozen),
                "optimizer": _optimizer_dict(optimizer),
                "schedule": _schedule_dict(schedule),
            }
        )
        for unit in units:
            result[-1] |= unit.phase_config(phase)
    for unit in units:
        unit.phases_config(bp, result)
    return result


def _merge_optimizer(base: Optimizer, override: Optimizer | None) -> Optimizer:
    if override is None:
        return base
    if override.name != base.name:
        return override
    merged = Optimizer(name=base.name)
    for key in ("lr", "momentum", "nesterov", "weight_decay", "betas", "alpha", "eps"):
        value = getattr(override, key)
        setattr(merged, key, value if value is not None else getattr(base, key))
    return merged


OPTIMIZER_DEFAULTS = {
    "sgd": {"momentum": 0.9, "nesterov": False, "weight_decay": 0.0},
    "adam": {"betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.0},
    "adamw": {"betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.01},
    "rmsprop": {"alpha": 0.99, "eps": 1e-8, "momentum": 0.0, "weight_decay": 0.0},
}

SCHEDULE_DEFAULTS = {
    "constant": {},
    "step": {"gamma": 0.1},
    "multistep": {"gamma": 0.1},
    "cosine": {"min_lr": 0.0},
    "plateau": {"metric": "val_acc", "factor": 0.1, "patience": 3, "min_lr": 0.0},
}


def _optimizer_dict(opt: Optimizer) -> dict:
    result = {"name": opt.name, "lr": opt.lr}
    for key, default in OPTIMIZER_DEFAULTS[opt.name].items():
        value = getattr(opt, key)
        result[key] = value if value is not None else default
    return result


def _schedule_dict(schedule: Schedule) -> dict:
    result = {"name": schedule.name}
    for key in ("step_size", "milestones"):
        if getattr(schedule, key) is not None:
            result[key] = getattr(schedule, key)
    for key, default in SCHEDULE_DEFAULTS[schedule.name].items():
        value = getattr(schedule, key)
        result[key] = value if value is not None else default
    return result
