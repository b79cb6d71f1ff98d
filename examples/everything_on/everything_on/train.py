"""Train SmallNet (everything_on).

    python -m everything_on.train [--data-root DIR] [--epochs N] [--out DIR] [--resume CKPT]
    torchrun --nproc_per_node=4 -m everything_on.train ...   # DistributedDataParallel

Writes OUT/metrics.csv, OUT/steps.csv, OUT/curves.png, OUT/last.pt (every epoch: all a resume
needs) and OUT/best.pt (the best weights, config and metrics); OUT is a new folder
runs/everything_on/DATE-TIME unless --out names one. --resume OUT/last.pt goes on exactly where a
run stopped, even in mid-epoch, with that run's settings; flags given again override them, and
--epochs continues the learning-rate schedule as if the run had started with the new length.
"""

import argparse
import contextlib
import itertools
import math
import os
import random
import signal
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist
import yaml
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.tensorboard import SummaryWriter
from torchvision.transforms import v2
from tqdm import tqdm

from . import Refused, checkpoint, data
from .model import AUX_WEIGHTS, SmallNet
from .phases import make_optimizer, make_schedule, resume_schedule, weight_decay_groups

BLUEPRINT = "everything_on"
DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "default.yaml"
# flags that change what a run computes: checkpoints keep them, --resume restores them
RESUMED_FLAGS = ("limit_batches", "skip_nonfinite", "precision", "skip_bad_images")
# --set: the values of the settings that name code of this project, and the kinds of value of those
# whose value in the config does not tell ([] is any index of a list)
CHOICES = {
    "train.optimizer.name": ("adamw",),
    "train.schedule.name": ("cosine",),
    "train.no_weight_decay[]": ("norm", "bias"),
}
KINDS = {
    "data.root": (str, type(None)),
    "train.schedule.warmup_factor": (float, type(None)),
    "train.grad_clip": (float, type(None)),
}
# the least value of each number (0 where not named; the seed takes any)
LEAST = {
    "train.epochs": 1,
    "train.batch_size": 1,
    "data.synthetic.train_size": 1,
    "data.synthetic.val_size": 1,
    "train.ema.every": 1,
    "train.grad_accum_steps": 1,
    "data.image_size[]": 1,
}
# the largest value of the bounded numbers
MOST = {
    "data.val_split": 0.9,
    "train.label_smoothing": 1,
    "train.ema.decay": 1,
    "train.optimizer.weight_decay": 1,
}
# the flags that give a setting of the config (by argparse's names): --set may not give it too
FLAG_SETTINGS = {
    "seed": "seed",
    "data_root": "data.root",
    "val_split": "data.val_split",
    "epochs": "train.epochs",
    "batch_size": "train.batch_size",
    "lr": "train.optimizer.lr",
    "image_size": "data.image_size",
    "workers": "data.num_workers",
    "deterministic": "train.deterministic",
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = make_parser("train", __doc__)
    add = parser.add_argument
    add("--config", type=Path, help="settings (default: configs/default.yaml or the resumed run's)")
    example = "train.optimizer.weight_decay=5e-4"
    add(
        "--set",
        type=setting,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"any setting of the config, the value in YAML, e.g. {example} (repeatable)",
    )
    add(
        "--data-root",
        help="data folder (default: the config's data.root; none: the built-in synthetic data)",
    )
    add(
        "--dataset",
        choices=["auto", "synthetic"],
        default="auto",
        help="synthetic: the built-in synthetic data, whatever the data root (default: auto)",
    )
    add("--epochs", type=positive_int, help="epochs (default: the config's)")
    add(
        "--batch-size",
        type=positive_int,
        help="samples per step and process (default: the config's)",
    )
    add("--lr", type=float, help="learning rate (default: the config's)")
    add(
        "--device",
        choices=["auto", "cpu", "cuda"],
        default="auto",
        help="auto (default): a CUDA GPU if there is one",
    )
    add(
        "--out",
        type=Path,
        help=f"output folder (default: a new runs/{BLUEPRINT}/DATE-TIME, or the resumed run's)",
    )
    add("--resume", type=Path, metavar="CKPT", help="continue from a checkpoint (OUT/last.pt)")
    add("--seed", type=int, help="random seed (default: the config's)")
    add(
        "--image-size",
        type=int,
        help="image size to train at, at least 1 px (default: the config's)",
    )
    add("--workers", type=int, help="data loader processes (default: the config's)")
    add(
        "--val-split",
        type=float,
        help="fraction of the training split held out for validation (default: the config's)",
    )
    fast = parser.add_argument_group("speed (defaults: on with CUDA, off on a CPU)").add_argument
    fast(
        "--precision",
        choices=["auto", "bf16", "fp16", "fp32"],
        help="auto (default, or the resumed run's): bf16 on a GPU with it, else fp16; CPU: fp32",
    )
    fast("--compile", action=argparse.BooleanOptionalAction, help="torch.compile the model")
    fast("--channels-last", action=argparse.BooleanOptionalAction, help="NHWC memory format")
    fast("--decode", choices=["cpu", "gpu"], help="decode JPEG files in the loader or on the GPU")
    control = parser.add_argument_group("run control").add_argument
    control("--limit-batches", type=positive_int, help="at most this many batches per epoch")
    control(
        "--log-every",
        type=positive_int,
        default=20,
        help="steps between progress updates (default: 20)",
    )
    control("--skip-nonfinite", action="store_true", help="skip steps whose loss is NaN or inf")
    control(
        "--deterministic",
        action=argparse.BooleanOptionalAction,
        help="deterministic algorithms only (default: the config's)",
    )
    control("--skip-bad-images", action="store_true", help="skip undecodable images, counted")
    args = parser.parse_args(argv)
    if args.workers is not None and args.workers < 0:
        parser.error(f"argument --workers: must be 0 or more, got {args.workers}")
    if args.lr is not None and not 0 < args.lr < float("inf"):
        parser.error(f"argument --lr: must be a positive number, got {args.lr:g}")
    if args.val_split is not None and not 0 < args.val_split < 1:
        parser.error(f"argument --val-split: must be between 0 and 1, got {args.val_split:g}")
    if args.image_size is not None and args.image_size < 1:
        parser.error(f"argument --image-size: must be at least 1 pixels, got {args.image_size}")
    return args


def make_parser(command: str, doc: str, **options) -> argparse.ArgumentParser:
    """The parser of `python -m PACKAGE.command`, described by the first paragraph of `doc`."""
    prog, description = f"python -m {__package__}.{command}", doc.split("\n\n")[0]
    return argparse.ArgumentParser(prog, description=description, **options)


def positive_int(text: str) -> int:
    if int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return int(text)


def load_config(args: argparse.Namespace, resumed: dict | None = None) -> dict:
    """configs/default.yaml (or --config, or the resumed run's config) with the command line's
    flags and --set settings over it; the resumed run's flags too, where the command line does not
    give them."""
    for name, value in resumed["flags"].items() if resumed else ():
        if getattr(args, name) in (None, False):
            setattr(args, name, value)
    from_checkpoint = resumed is not None and not args.config  # the resumed run's settings
    path = args.resume if from_checkpoint else args.config or DEFAULT_CONFIG
    config = read_config(path, resumed["config"] if from_checkpoint else None)
    config["seed"] = config["seed"] if args.seed is None else args.seed
    config["data"]["val_split"] = args.val_split or config["data"]["val_split"]
    if args.deterministic is not None:
        config["train"]["deterministic"] = args.deterministic
    train = config["train"]
    train["epochs"] = args.epochs or train["epochs"]
    train["batch_size"] = args.batch_size or train["batch_size"]
    train["optimizer"]["lr"] = args.lr or train["optimizer"]["lr"]
    given = {
        key: f"--{name} gives it too: give it once".replace("_", "-")
        for name, key in FLAG_SETTINGS.items()
        if getattr(args, name) is not None
    }
    if args.dataset == "synthetic":
        given["data.root"] = "--dataset synthetic leaves it out: give one of them"
    if resumed is not None:  # the optimizer and schedule go on from their state in the checkpoint
        where, current = "train", config["train"]
        for part in ("optimizer", "schedule"):
            for key in current[part]:
                if (part, key) == ("optimizer", "lr"):  # the schedule, built anew, starts from it
                    continue
                given[f"{where}.{part}.{key}"] = (
                    f"a resumed {part} keeps its settings (a new run can change them)"
                )
    apply_settings(config, args.set, path, given)
    return config


def read_config(path: Path, config: dict | None = None) -> dict:
    """A config file, or the `config` of a checkpoint at `path`: a setting it lacks is named."""
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8")) if config is None else config
    except (OSError, yaml.YAMLError) as error:
        raise Refused(f"cannot read the config {path}: {error}") from None
    keys = "seed data.image_size data.num_workers data.root data.val_split train.grad_clip"
    keys += " train.label_smoothing train.epochs train.batch_size train.optimizer.lr"
    keys += " train.schedule.name train.mixup_alpha train.cutmix_alpha train.ema.decay"
    keys += " train.ema.every train.ema.warmup train.grad_accum_steps train.no_weight_decay"
    keys += " train.deterministic"
    for key in keys.split():
        value = config
        try:  # a part missing, or a value where the key needs a mapping or a list
            for part in key.replace("]", "").replace("[", ".").split("."):
                value = value[int(part) if isinstance(value, list) else part]
        except (KeyError, IndexError, TypeError, ValueError):
            missing = f"{path}: the setting {key} is missing"
            raise Refused(f"{missing} (compare {DEFAULT_CONFIG})") from None
    return config


def setting(text: str) -> tuple[str, object]:
    """--set KEY=VALUE: the key, and the value read as YAML (0.1, 5e-4, [0.9, 0.99], null, step)."""
    key, equals, value = text.partition("=")
    if not equals or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, like train.epochs=5; got {text!r}")
    try:
        return key.strip(), yaml.safe_load(value)
    except yaml.YAMLError:
        raise argparse.ArgumentTypeError(f"{key}: {value!r} is not a YAML value") from None


def apply_settings(
    config: dict, settings: list, source: Path, given: dict, command="train"
) -> None:
    """--set: each (KEY, VALUE) of `settings` into `config`. A key the config (read from `source`)
    lacks or that is `given` otherwise (why, by path, [] any index), or a value of another kind
    than the setting's, stops the command as a bad flag does: one line, exit status 2."""
    for key, value in settings:
        try:
            place, name, where, kind = find_setting(config, key, source)
            if kind in given or where in given:
                raise ValueError(given.get(kind) or given[where])
            place[name] = checked_value(value, place[name], CHOICES.get(where), kind)
        except ValueError as error:
            program = f"python -m {__package__}.{command}"
            print(f"{program}: error: argument --set {key}: {error}", file=sys.stderr)
            raise SystemExit(2) from None


def find_setting(config: dict, key: str, source: Path) -> tuple:
    """Where `key` (data.val_split, train.optimizer.lr) is in `config`, read from
    `source`: the mapping or list that holds it, its name or index there, and its path, as written
    and with [] for indices."""
    place, where, kind = config, "", ""
    parts = key.replace("]", "").replace("[", ".").split(".")
    for number, part in enumerate(parts):
        if isinstance(place, dict) and part in place:
            name, where, kind = part, f"{where}.{part}".lstrip("."), f"{kind}.{part}".lstrip(".")
        elif isinstance(place, dict):
            raise ValueError(f"no such setting in {source}: {where or 'it'} has {', '.join(place)}")
        elif isinstance(place, list) and part.isdigit() and int(part) < len(place):
            name, where, kind = int(part), f"{where}[{part}]", f"{kind}[]"
        elif isinstance(place, list):
            raise ValueError(f"{where} has items [0] to [{len(place) - 1}]")
        else:
            raise ValueError(f"{where} is one value, not a group of settings")
        if number < len(parts) - 1:
            place = place[name]
    if isinstance(place[name], dict):
        inner = ", ".join(f"{where}.{part}" for part in place[name])
        raise ValueError(f"a group of settings: set one of {inner}")
    return place, name, where, kind


def checked_value(value, old, choices: tuple | None, kind: str, item: str = ""):
    """`value` for the setting whose value is `old` (`kind`: its path, [] for indices; `item`: which
    item of a list): of old's kind or one KINDS names (a whole number or 5e-4 where a number goes),
    from LEAST up to MOST, one of `choices` or CHOICES' where the setting names code; in a list,
    each item so."""
    kinds, choices = KINDS.get(kind, (type(old),)), choices or CHOICES.get(kind)
    if float in kinds and type(value) in (int, str):
        try:
            value = float(value)
        except ValueError:
            pass
    if type(value) not in kinds:
        words = {bool: "true or false", int: "a whole number", float: "a number", str: "a word"}
        words |= {list: "a list like [a, b]", type(None): "null"}
        raise ValueError(f"{item}takes {' or '.join(words[k] for k in kinds)}, not {value!r}")
    least = LEAST.get(kind, 0)
    if type(value) in (int, float) and kind != "seed" and not least <= value < float("inf"):
        raise ValueError(f"{item}takes a number from {least} up, not {value!r}")
    if type(value) in (int, float) and kind in MOST and value > MOST[kind]:
        raise ValueError(f"{item}takes a number up to {MOST[kind]}, not {value!r}")
    if type(value) is str and choices is not None and value not in choices:
        raise ValueError(f"{item}takes {' or '.join(choices)} in this project, not {value!r}")
    if type(value) is list:
        first = old[0] if isinstance(old, list) and old else None
        items = enumerate(value)
        return [checked_value(v, first, None, f"{kind}[]", f"item {i} ") for i, v in items]
    return value


class Run:
    """Where and how this process runs: device, DDP rank (under torchrun), precision and memory
    layout. On a GPU the defaults are fast: bf16, channels_last, cudnn.benchmark, TF32, compile."""

    def __init__(self, device="auto", precision=None, compile=None, channels_last=None) -> None:
        if device == "cuda" and not torch.cuda.is_available():
            raise Refused("--device cuda: no CUDA GPU is available")
        self.cuda = device != "cpu" and torch.cuda.is_available()
        self.device, self.rank, self.world = torch.device("cuda" if self.cuda else "cpu"), 0, 1
        if "RANK" in os.environ:  # torchrun: one process per GPU (or per CPU slot, with gloo)
            self.rank, self.world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
            if self.cuda:
                self.device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
                torch.cuda.set_device(self.device)
            dist.init_process_group(backend="nccl" if self.cuda else "gloo")
        if self.cuda:
            torch.backends.cudnn.benchmark = True
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        self.set_precision(precision)
        self.compile = self.cuda if compile is None else compile
        channels_last = self.cuda if channels_last is None else channels_last
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format

    def set_precision(self, precision: str | None) -> None:
        """bf16, fp16 or fp32; auto (or None): bf16 on a GPU that has it, fp16 (with loss scaling)
        on an older GPU, fp32 on a CPU."""
        if precision in (None, "auto") and self.cuda:
            precision = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        elif precision in (None, "auto"):
            precision = "fp32"
        self.precision = precision

    def log(self, *args) -> None:
        if self.rank == 0:
            print(*args, flush=True)

    def autocast(self):
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.precision)
        return torch.autocast(self.device.type, dtype, enabled=dtype is not None)

    def synchronize(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()


def start_run(args: argparse.Namespace) -> Run:
    """The run the flags ask for, and where JPEG files are decoded (by default, on its device)."""
    run = Run(args.device, args.precision, args.compile, args.channels_last)
    args.decode = args.decode or ("gpu" if run.cuda else "cpu")
    if args.decode == "gpu" and not run.cuda:
        raise Refused("--decode gpu needs a CUDA device")
    return run


def make_ema(model: nn.Module, settings: dict, resumed: dict | None) -> AveragedModel:
    """An exponential moving average of the model's weights and batch norm statistics, updated
    every `settings["every"]` optimizer steps with `settings["decay"]` (torchvision's
    ExponentialMovingAverage), warmed up if `settings["warmup"]`; evaluated every epoch and
    checkpointed as "ema"."""
    decay = settings["decay"]
    average = warmed_up(decay) if settings["warmup"] else get_ema_multi_avg_fn(decay)
    ema = AveragedModel(model, multi_avg_fn=average, use_buffers=True)
    ema.requires_grad_(False)
    if resumed is not None and "ema" in resumed:
        ema.load_state_dict(resumed["ema"])
    return ema


def warmed_up(decay: float):
    """The average's update with timm's warm-up of the decay (ModelEmaV3's use_warmup): update n
    (the first copies the weights) keeps min(decay, 1 - (1 + n)^(-2/3)) of the average. n is the
    AveragedModel's count, saved in the checkpoint, so a resume goes on where the run stopped. One
    fused lerp over the tensors of a device and dtype, as get_ema_multi_avg_fn's (integer buffers,
    batch norm's count, as it treats them)."""

    @torch.no_grad()
    def update(averaged: list, current: list, updates: torch.Tensor) -> None:
        # (update_parameters has read the count on the host already, to know the first update)
        kept = min(decay, 1 - (1 + int(updates)) ** (-2 / 3))
        if torch.is_floating_point(averaged[0]) or torch.is_complex(averaged[0]):
            torch._foreach_lerp_(averaged, current, 1 - kept)
        else:
            for mean, value in zip(averaged, current):
                mean.copy_(mean * kept + value * (1 - kept))

    return update


def synchronize_batch_norm(model: nn.Module, run: Run) -> nn.Module:
    """Under DDP on GPUs, batch norm layers normalise with the statistics of every process's batch
    (torchvision's --sync-bn); one process, or a CPU, keeps them as they are."""
    if run.world > 1 and run.cuda:
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return model


def make_deterministic() -> None:
    """Deterministic algorithms wherever torch has them, and no cudnn.benchmark: a run repeats bit
    for bit on the same machine, a little slower. An operation without one (on CUDA, e.g. the
    backward pass of adaptive average pooling) warns that it may differ, rather than stop."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuBLAS's deterministic mode
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False


class Stop:
    """Ctrl-C, SIGTERM and SIGUSR1 (pre-emption; SLURM's warning) stop after the current step, with
    a checkpoint. A second Ctrl-C stops at once (within a second, the same one: torchrun passes it
    on too). Under DDP the ranks agree every step without waiting: each step all-reduces its own
    request on the CPU in the background and the next step reads the result, so every rank stops
    after the same step, one step after a signal at most."""

    def __init__(self, run: Run) -> None:
        self.requested, self.agreed, self.since, self.pending = False, False, 0.0, None
        # gloo, on the CPU: reading the flag never waits for the GPU
        self.group = dist.new_group(backend="gloo") if run.world > 1 else None
        self.flag = torch.zeros(1)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1):
            signal.signal(sig, self.request)

    def request(self, signum, frame) -> None:
        if self.requested and signum == signal.SIGINT and time.monotonic() - self.since > 1:
            raise KeyboardInterrupt
        self.requested, self.since = True, self.since or time.monotonic()

    def now(self) -> bool:
        """Whether to stop after this step; every rank calls it once a step."""
        if self.group is None:
            return self.requested
        if self.pending is not None:  # the previous step's, long done
            self.pending.wait()
            self.agreed = self.agreed or bool(self.flag)
        self.flag.fill_(float(self.requested))
        self.pending = dist.all_reduce(self.flag, dist.ReduceOp.MAX, self.group, async_op=True)
        return self.agreed


def model_inputs(batch: dict, run: Run) -> tuple[tuple, torch.Tensor]:
    """The model's inputs and the labels on the device, the images normalised."""
    images = data.normalize(batch["image"].to(run.device, non_blocking=True))
    images = images.contiguous(memory_format=run.memory_format)
    labels = batch["label"].to(run.device, non_blocking=True)
    return (images,), labels


def training_loss(criterion, outputs, labels) -> tuple[torch.Tensor, torch.Tensor]:
    """The loss of the model's outputs in training, `(logits, [aux, ...])`: the class scores' loss
    plus each auxiliary head's times its weight in model.py's AUX_WEIGHTS (the total is what
    trains, and what the logs show); and the class scores."""
    logits, aux_logits = outputs
    loss = criterion(logits.float(), labels)
    for weight, aux in zip(AUX_WEIGHTS, aux_logits, strict=True):
        loss = loss + weight * criterion(aux.float(), labels)
    return loss, logits


def train_step(model, criterion, optimizer, scaler, inputs, labels, run: Run, args, group=(0, 1)):
    """One batch of an optimizer step: the loss and the logits, detached (the loss None: not
    finite, and skipped with --skip-nonfinite). `group` is the batch's place among the batches
    whose gradients add up to one step, and their number: each adds its loss divided by that
    number, the last steps the optimizer, and the others skip DDP's gradient all-reduce."""
    place, count = group
    last = place == count - 1
    # DDP decides in the forward pass whether the backward pass all-reduces: no_sync around both
    with contextlib.nullcontext() if last else getattr(model, "no_sync", contextlib.nullcontext)():
        with run.autocast():
            loss, logits = training_loss(criterion, model(*inputs), labels)
        if args.skip_nonfinite and not torch.isfinite(loss):
            return None, logits
        if place == 0:  # (a step whose last batch is skipped leaves its gradients unused)
            optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss / count).backward()
    if not last:  # the next batches' gradients add to these
        return loss.detach(), logits.detach()
    if args.grad_clip:
        scaler.unscale_(optimizer)
        nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
    scaler.step(optimizer)
    scaler.update()
    return loss.detach(), logits.detach()


class BatchMix:
    """Mixup or cutmix of each training batch, one of the two at even odds (as torchvision's
    references), its labels made soft (N, classes). Its random choices come from the seed, the rank,
    the epoch and the step: a resumed run mixes as the run it continues."""

    def __init__(self, settings: dict, classes: int, seed: int, rank: int) -> None:
        self.transform = v2.RandomChoice(
            [
                v2.MixUp(alpha=settings["mixup_alpha"], num_classes=classes),
                v2.CutMix(alpha=settings["cutmix_alpha"], num_classes=classes),
            ]
        )
        self.seed, self.rank = seed, rank

    def __call__(self, images: torch.Tensor, labels: torch.Tensor, epoch: int, step: int):
        with torch.random.fork_rng(devices=[]):  # its draws are on the CPU, whatever the device
            seed = ((self.seed * 1_000_003 + epoch) * 1_000_003 + step) * 1_000 + self.rank
            torch.default_generator.manual_seed(seed % 2**63)
            return self.transform(images, labels)


def train_one_epoch(
    model,
    criterion,
    optimizer,
    scaler,
    batches,
    epoch,
    steps,
    run,
    args,
    stop,
    schedule,
    ema,
    steps_csv=None,
    writer=None,
):
    """Train epoch `epoch` (from 0), its `steps` not done yet, stepping `schedule` after every
    optimizer step, updating `ema`; every --log-every steps a row to `steps_csv` (an open steps.csv,
    rank 0's). Returns the steps done, the totals of loss, correct predictions and samples, seconds
    and images per second, and the undecodable images skipped."""
    totals = torch.zeros(3, dtype=torch.float64, device=run.device)
    losses = torch.zeros(steps.stop, device=run.device)
    done, started, timer, images, skipped = steps.start, time.perf_counter(), None, 0, 0
    # steps.csv's last row: its step and time; seconds spent waiting for batches since then
    logged, since, waited, ready = done, started, 0.0, started
    bar = tqdm(total=steps.stop, initial=done, desc=f"epoch {epoch + 1}", disable=run.rank > 0)
    for index, batch in zip(steps, batches):
        waited += time.perf_counter() - ready
        if index == steps.start + (3 if run.compile else 0):  # the first steps compile: untimed
            run.synchronize()
            timer, images = time.perf_counter(), 0
        done = index + 1
        skipped += batch["skipped"]
        if "label" not in batch:  # every image of the batch was undecodable
            if run.world > 1:  # the other ranks would wait for this one's gradients
                raise data.DataError(f"rank {run.rank} got a batch of undecodable images only")
            continue
        inputs, labels = model_inputs(batch, run)
        # soft targets for the loss; accuracy counts the class each mixed image holds most of
        mixed, targets = args.mix(inputs[0], labels, epoch, index)
        inputs, labels = (mixed,), targets.argmax(1)
        first = index - index % args.grad_accum_steps  # the first batch of this optimizer step
        group = (index - first, min(args.grad_accum_steps, steps.stop - first))
        loss, logits = train_step(
            model, criterion, optimizer, scaler, inputs, targets, run, args, group
        )
        if loss is None:
            run.log(f"skipped step {done} of epoch {epoch + 1}: the loss is not finite")
        else:
            losses[index] = loss
            totals[0] += loss * len(labels)  # on the device, without a sync
            totals[1] += (logits.argmax(1) == labels).sum()
            totals[2] += len(labels)
            images += len(labels) * run.world
            if group[0] == group[1] - 1:  # the optimizer stepped
                schedule.step()
                if (index // args.grad_accum_steps + 1) % args.ema_every == 0:
                    ema.update_parameters(model)
        bar.update()
        stopping = stop.now() and done % args.grad_accum_steps == 0  # between optimizer steps
        log_row = done % args.log_every == 0 or done == steps.stop
        # the loss is checked every step on a CPU (free), on a GPU every --log-every steps (no
        # sync per step) and before stopping
        if run.cuda and not log_row and not stopping:
            ready = time.perf_counter()
            continue
        window = losses[max(steps.start, done - args.log_every) : done]
        if not torch.isfinite(window).all():
            bad = done - len(window) + int((~torch.isfinite(window)).nonzero()[0])
            where = f"epoch {epoch + 1}, step {bad + 1}"
            fix = "the last checkpoint is kept; lower the learning rate, or pass --skip-nonfinite"
            raise SystemExit(f"stopped: the loss became {losses[bad].item()} at {where}; {fix}")
        bar.set_postfix(loss=f"{losses[index].item():.4f}", refresh=False)
        if steps_csv is not None and log_row:  # means over the steps since the last row
            now, count = time.perf_counter(), done - logged
            mean_loss, lr = float(window[-count:].mean()), optimizer.param_groups[0]["lr"]
            values = (mean_loss, lr, waited / count, (now - since) / count)
            row = [epoch + 1, done, *(f"{value:.6g}" for value in values)]
            steps_csv.write(",".join(map(str, row)) + "\n")
            steps_csv.flush()
        if log_row:
            logged, since, waited = done, time.perf_counter(), 0.0
        if writer is not None and log_row:
            batch_number = epoch * steps.stop + done  # batches so far
            writer.add_scalar("step/train_loss", losses[index].item(), batch_number)
            writer.add_scalar("step/lr", optimizer.param_groups[0]["lr"], batch_number)
        if stopping:
            break
        ready = time.perf_counter()
    bar.close()
    run.synchronize()
    now = time.perf_counter()
    return done, totals, now - started, images / max(now - (timer or started), 1e-9), skipped


class Decoded:
    """The loader's batches with their JPEG files decoded and transformed on the device, one batch
    ahead: the next batch is decoded while the training step of this one runs, on a CUDA stream
    of its own (`ahead=False`: in turn, on the training stream; bench.py compares the two). Like
    the loader, each pass (an epoch, an evaluation) goes through them anew."""

    def __init__(self, loader, transform, run: Run, skip_bad: bool, ahead: bool = True) -> None:
        self.loader, self.transform, self.run, self.skip_bad = loader, transform, run, skip_bad
        self.ahead = ahead

    def __iter__(self):
        stream = torch.cuda.Stream(self.run.device) if self.run.cuda and self.ahead else None
        waiting = None  # the batch decoded ahead, and the event its decoding ends with
        for batch in self.loader:
            decoded = self.decode(batch, stream)
            if not self.ahead:
                yield decoded[0]
                continue
            if waiting is not None:
                yield self.ready(*waiting)
            waiting = decoded
        if waiting is not None:
            yield self.ready(*waiting)

    def decode(self, batch: dict, stream) -> tuple[dict, torch.cuda.Event | None]:
        if "data" not in batch:  # e.g. cached features: nothing to decode
            return batch, None
        with torch.cuda.stream(stream):  # None: the current stream
            images = data.decode_on_device(batch, self.transform, self.run.device, self.skip_bad)
            done = stream.record_event() if stream is not None else None
        if images is not None:  # else every image of the batch was undecodable
            batch["image"] = images
        return batch, done

    def ready(self, batch: dict, done) -> dict:
        """The batch, once the training stream has waited for its decoding to end."""
        if done is not None:
            current = torch.cuda.current_stream(self.run.device)
            current.wait_event(done)
            if "image" in batch:  # made on the side stream, used on this one: not freed early
                batch["image"].record_stream(current)
        return batch


@torch.no_grad()
def evaluate(model, batches, classes: int, run: Run, args) -> dict:
    """Loss, accuracy and confusion matrix (rows: true classes); every sample once over ranks."""
    model.eval()
    totals = torch.zeros(2, dtype=torch.float64, device=run.device)  # loss sum, undecodable images
    confusion = torch.zeros(classes * classes, dtype=torch.long, device=run.device)
    top5 = torch.zeros((), dtype=torch.long, device=run.device)  # labels in the top 5
    for batch in itertools.islice(batches, args.limit_batches):
        totals[1] += batch["skipped"]
        if "label" not in batch:  # every image of the batch was undecodable
            continue
        inputs, labels = model_inputs(batch, run)
        with run.autocast():
            logits = model(*inputs).float()
        totals[0] += nn.functional.cross_entropy(logits, labels, reduction="sum")
        confusion += torch.bincount(labels * classes + logits.argmax(1), minlength=classes**2)
        top5 += (logits.topk(min(5, logits.shape[1]), 1).indices == labels[:, None]).any(1).sum()
    if run.world > 1:
        for total in (totals, confusion, top5):
            dist.all_reduce(total)
    loss_sum, skipped = totals.tolist()
    confusion = confusion.view(classes, classes)
    count = int(confusion.sum())
    sums = {"loss": float(loss_sum), "acc": int(confusion.trace()), "top5": int(top5)}
    result = {key: total / max(count, 1) for key, total in sums.items()}  # means per sample
    return result | {"count": count, "confusion": confusion, "skipped": int(skipped)}


def load_data(args: argparse.Namespace, config: dict, **options) -> data.DataSets:
    """The data sets the flags ask for; the config (which checkpoints carry) records them."""
    if args.image_size is not None:
        height, width = config["data"]["image_size"]
        config["data"]["image_size"] = [args.image_size, round(args.image_size * width / height)]
    if args.workers is not None:
        config["data"]["num_workers"] = args.workers
    root = None if args.dataset == "synthetic" else args.data_root or config["data"]["root"]
    config["data"]["root"] = str(Path(root).expanduser().resolve()) if root else None
    try:
        datasets = data.load_datasets(root, config["data"], config["seed"], **options)
    except data.DataError as error:
        raise Refused(f"data: {error}") from None
    for split in filter(None, (datasets.train, datasets.val, datasets.test)):
        split.skip_bad = args.skip_bad_images
    return datasets


def build_model(args, datasets: data.DataSets, run: Run, resumed: dict | None) -> nn.Module:
    """The model, with an output for each class of the data; its weights resumed, if resuming."""
    model = SmallNet(len(datasets.classes))
    if resumed is not None:
        checkpoint.load_weights(model, resumed["model"], args.resume)
    return model.to(device=run.device, memory_format=run.memory_format)


def output_folder(args: argparse.Namespace, run: Run) -> Path:
    """--out, else the resumed run's folder, else a new runs/NAME/DATE-TIME: never a folder that
    holds another run (metrics.csv, last.pt), which only a resume into it may continue."""
    if args.out is None and args.resume is not None:
        return args.resume.parent
    if args.out is None:  # rank 0 makes the folder, every rank writes into it
        name = [None]
        if run.rank == 0:
            base = Path("runs") / BLUEPRINT / time.strftime("%Y%m%d-%H%M%S")
            name[0], number = base, 1
            while not make_folder(name[0]):  # another run started in the same second
                number += 1
                name[0] = base.with_name(f"{base.name}-{number}")
        if run.world > 1:
            dist.broadcast_object_list(name)
        return name[0]
    resuming = args.resume is not None and args.resume.resolve().parent == args.out.resolve()
    held = [name for name in ("last.pt", "metrics.csv") if (args.out / name).exists()]
    if held and not resuming:
        fix = f"continue it with --resume {args.out / 'last.pt'}, or choose a new --out"
        raise Refused(f"--out {args.out} already holds a run ({held[0]}): {fix}")
    return args.out


def make_folder(path: Path) -> bool:
    """Make `path` (and its parents); False if it exists already."""
    try:
        path.mkdir(parents=True)
    except FileExistsError:
        return False
    return True


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    run = start_run(args)
    resumed = checkpoint.load(args.resume, BLUEPRINT, run.log) if args.resume else None
    if resumed is not None and "optimizer" not in resumed:
        fix = f"resume from {args.resume.parent / 'last.pt'}"
        raise Refused(f"{args.resume} holds weights only, nothing to resume: {fix}")
    config = load_config(args, resumed)
    run.set_precision(args.precision)  # the resumed run's, unless given again
    out = output_folder(args, run)
    run.log(f"writing to {out}")
    seed = config["seed"]
    random.seed(seed + run.rank)  # nanoGPT's seed_offset: each rank draws its own dropout masks
    torch.manual_seed(seed + run.rank)  # (DDP gives every rank rank 0's initial weights)
    if args.skip_nonfinite and run.world > 1:
        raise Refused("--skip-nonfinite works in one process: DDP ranks would skip apart")
    args.grad_clip = config["train"]["grad_clip"]  # train_step takes its settings from args
    args.ema_every = config["train"]["ema"]["every"]
    args.grad_accum_steps = config["train"]["grad_accum_steps"]
    if config["train"]["deterministic"]:
        make_deterministic()
    datasets = load_data(args, config, decode=args.decode)
    if args.val_split is not None and not datasets.held_out:
        raise Refused("--val-split: the data has its own validation split")
    run.log(f"data: {datasets.description}")
    args.mix = BatchMix(config["train"], len(datasets.classes), seed, run.rank)
    model = build_model(args, datasets, run, resumed)
    model = synchronize_batch_norm(model, run)
    ema = make_ema(model, config["train"]["ema"], resumed)
    criterion = nn.CrossEntropyLoss(label_smoothing=config["train"]["label_smoothing"])
    scaler = torch.amp.GradScaler(run.device.type, enabled=run.precision == "fp16")
    out.mkdir(parents=True, exist_ok=True)  # on every rank: exist_ok settles the race
    writer = SummaryWriter(out / "tensorboard") if run.rank == 0 else None  # rank 0 writes
    sampler = data.SeededSampler(len(datasets.train), seed, True, run.rank, run.world)
    val_sampler = data.SeededSampler(len(datasets.val), seed, False, run.rank, run.world)
    workers = config["data"]["num_workers"]

    def state(epoch: int, step: int, totals: torch.Tensor) -> dict:
        """Everything a resume needs. Every rank calls it (it gathers their RNG states)."""
        rng = [checkpoint.rng_state()] * run.world
        if run.world > 1:
            dist.all_gather_object(rng, checkpoint.rng_state())
        saved = {
            "model": model.state_dict(),
            "ema": ema.state_dict(),
            "optimizer": optimizer.state_dict(),
        }
        saved |= {"schedule": schedule.state_dict(), "scaler": scaler.state_dict()}
        saved |= {"epoch": epoch, "step": step, "totals": totals.tolist()}
        saved |= {"best_acc": best_acc, "history": history, "rng": rng, "blueprint": BLUEPRINT}
        saved |= {"classes": datasets.classes, "config": config}
        return saved | {"flags": {name: getattr(args, name) for name in RESUMED_FLAGS}}

    stop, train = Stop(run), config["train"]
    batch_size, params = train["batch_size"], list(model.parameters())
    per_epoch = len(datasets.train) // run.world // batch_size  # steps
    per_epoch = min(per_epoch, args.limit_batches or per_epoch)
    if per_epoch == 0:
        raise Refused(f"{len(datasets.train)} samples make no batch of {batch_size}")
    groups = weight_decay_groups(model, params, config["train"]["no_weight_decay"])
    optimizer = make_optimizer(groups, train["optimizer"], run.device)
    updates = math.ceil(per_epoch / args.grad_accum_steps)  # optimizer steps an epoch
    schedule = make_schedule(optimizer, train["schedule"], train["epochs"], updates)
    history, best_acc, start_epoch, start_step, resumed_totals = [], -1.0, 0, 0, [0.0] * 3
    if resumed is not None:
        optimizer.load_state_dict(resumed["optimizer"])
        resume_schedule(schedule, resumed["schedule"])
        if resumed["scaler"]:  # empty: the run trained without fp16's loss scaling
            scaler.load_state_dict(resumed["scaler"])
        history, best_acc = resumed["history"], resumed["best_acc"]
        start_epoch, start_step = resumed["epoch"], resumed["step"]
        if start_step and run.rank == 0:  # the epoch's totals so far, over every rank
            resumed_totals = resumed["totals"]
        checkpoint.set_rng_state(resumed["rng"], run.rank, seed)
        run.log(f"resuming {args.resume} at epoch {start_epoch + 1}, step {start_step}")
    steps_csv = checkpoint.open_steps(out, start_epoch, start_step) if run.rank == 0 else None
    step_model = DistributedDataParallel(model) if run.world > 1 else model
    if run.compile:
        step_model = torch.compile(step_model)
    batches = data.make_loader(datasets.train, sampler, batch_size, workers, run.cuda)
    val_batches = data.make_loader(datasets.val, val_sampler, batch_size, workers, run.cuda)
    if args.decode == "gpu":
        batches = Decoded(batches, datasets.train.transform, run, args.skip_bad_images)
        val_batches = Decoded(val_batches, datasets.val.transform, run, args.skip_bad_images)
    settings, count = train["optimizer"], sum(p.numel() for p in params)
    run.log(f"{train['epochs']} epochs, {settings['name']} lr {settings['lr']}, {count:,} params")
    for number in range(start_epoch, train["epochs"]):
        start, start_step = start_step, 0
        sampler.set_epoch(number, start * batch_size)
        model.train()
        steps = range(start, per_epoch)
        done, totals, seconds, speed, skipped = train_one_epoch(
            step_model,
            criterion,
            optimizer,
            scaler,
            batches,
            number,
            steps,
            run,
            args,
            stop,
            schedule,
            ema,
            steps_csv,
            writer,
        )
        totals += torch.tensor(resumed_totals, dtype=totals.dtype, device=run.device)
        resumed_totals = [0.0, 0.0, 0.0]
        if run.world > 1:  # the epoch's totals over every rank
            dist.all_reduce(totals)
        if stop.requested:
            saved = state(number, done, totals)
            if run.rank == 0:
                checkpoint.save(out / "last.pt", saved)
            run.log(f"stopped in epoch {number + 1}: continue with --resume {out / 'last.pt'}")
            sys.exit(130)
        val = evaluate(model, val_batches, len(datasets.classes), run, args)
        val_ema = evaluate(ema.module, val_batches, len(datasets.classes), run, args)
        if skipped or val["skipped"]:
            run.log(f"skipped undecodable images: {skipped} train, {val['skipped']} val")
        lr = optimizer.param_groups[0]["lr"]  # the rate at the epoch's end
        train_loss, train_acc = (totals[:2] / totals[2]).tolist()  # totals: loss, correct, samples
        row = {"epoch": number + 1, "train_loss": train_loss, "train_acc": train_acc}
        row |= {"val_loss": val["loss"], "val_acc": val["acc"], "lr": float(lr)}
        history.append(row | {"seconds": seconds, "img_per_s": speed, "val_top5": val["top5"]})
        history[-1] |= {
            "val_ema_loss": val_ema["loss"],
            "val_ema_acc": val_ema["acc"],
            "val_ema_top5": val_ema["top5"],
        }
        improved, best_acc = val["acc"] > best_acc, max(best_acc, val["acc"])
        trained = f"train loss {train_loss:.4f} acc {train_acc:.4f}"
        validated = f"val loss {val['loss']:.4f} acc {val['acc']:.4f} ({val['count']} samples)"
        validated += f", EMA acc {val_ema['acc']:.4f}"
        run.log(f"epoch {number + 1}: {trained}, {validated}, {speed:.0f} img/s")
        if writer is not None:  # every number of the epoch's metrics.csv row
            for key, value in history[-1].items():
                if key != "epoch":
                    writer.add_scalar(f"epoch/{key}", value, number + 1)
            writer.flush()
        saved = state(number + 1, 0, totals)
        if run.rank == 0:
            if improved:  # the weights, config and metrics only
                checkpoint.save(out / "best.pt", {key: saved[key] for key in checkpoint.BEST})
            checkpoint.save(out / "last.pt", saved)
            checkpoint.write_metrics(out, history, f"{BLUEPRINT}: SmallNet")
    if writer is not None:
        writer.close()
    if steps_csv is not None:
        steps_csv.close()
    run.log(f"done: best validation accuracy {best_acc:.4f}; everything is in {out}")


if __name__ == "__main__":
    try:
        main()
    except Refused as refusal:  # what was asked cannot be done: one line, exit status 2
        print(f"python -m {__package__}.train: error: {refusal}", file=sys.stderr)
        sys.exit(2)
    except data.DataError as error:  # raised while loading a batch
        sys.exit(f"data: {error}")
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
