"""Train MyCNN (mycnn).

    python -m mycnn.train [--config FILE] [--data-root DIR] [--epochs N]
        [--batch-size N] [--lr X] [--device auto|cpu|cuda] [--out DIR] [--resume CKPT]
        [--seed N] ...
    torchrun --nproc_per_node=4 -m mycnn.train ...   # DistributedDataParallel

Without --data-root it trains on the built-in synthetic shapes. It writes OUT/metrics.csv,
OUT/last.pt (every epoch), OUT/best.pt (best validation accuracy) and OUT/curves.png;
--resume OUT/last.pt continues exactly where a run stopped, even in the middle of an epoch,
with the settings, data and output folder of that run (flags given again override them).
On a GPU it is fast by default: bf16 autocast, channels_last, cudnn.benchmark, TF32,
fused optimizers and torch.compile.
"""

import argparse
import contextlib
import os
import random
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
import yaml
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from . import checkpoint, data
from .model import MyCNN
from .phases import freeze_norm_statistics, make_optimizer, make_schedule, set_trainable

BLUEPRINT = "mycnn"
DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "default.yaml"
# flags that change what a run computes: a checkpoint keeps them, --resume restores them
RESUMED_FLAGS = (
    "limit_batches",
    "skip_bad_images",
    "skip_nonfinite",
    "data_on_device",
    "cuda_graph",
)


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def fraction(text: str) -> float:
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m mycnn.train",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add = parser.add_argument
    add(
        "--config",
        type=Path,
        help="training settings (YAML; default: configs/default.yaml, or the resumed run's)",
    )
    add("--data-root", help="data folder; without it, the built-in synthetic data")
    add(
        "--dataset",
        choices=["auto", "synthetic"],
        default="auto",
        help="synthetic: no data root",
    )
    add(
        "--epochs",
        type=positive_int,
        help="epochs of every phase (default: the config's)",
    )
    add(
        "--batch-size",
        type=positive_int,
        help="samples per step and process (default: the config's)",
    )
    add(
        "--lr",
        type=positive_float,
        help="learning rate of every phase (default: the config's)",
    )
    add("--device", choices=["auto", "cpu", "cuda"], default="auto")
    add(
        "--out",
        type=Path,
        help=f"output folder (default: runs/{BLUEPRINT}, or the resumed checkpoint's folder)",
    )
    add(
        "--resume",
        type=Path,
        metavar="CKPT",
        help="continue from a checkpoint (OUT/last.pt)",
    )
    add("--seed", type=int, help="random seed (default: the config's)")
    add(
        "--workers",
        type=non_negative_int,
        help="data loader processes (default: the config's)",
    )
    add(
        "--val-split",
        type=fraction,
        help="hold out this fraction of a single training set",
    )
    add(
        "--download", action="store_true", help="download the data set into --data-root"
    )
    fast = parser.add_argument_group(
        "speed (defaults: on with CUDA, off on a CPU)"
    ).add_argument
    fast("--precision", choices=["auto", "bf16", "fp16", "fp32"], default="auto")
    fast(
        "--compile",
        action=argparse.BooleanOptionalAction,
        help="torch.compile the model",
    )
    fast(
        "--channels-last",
        action=argparse.BooleanOptionalAction,
        help="NHWC memory format",
    )
    fast(
        "--decode",
        choices=["cpu", "gpu"],
        help="where JPEG files are decoded: in the loader workers, or in batches on the GPU "
        "(default: gpu with CUDA)",
    )
    fast(
        "--data-on-device",
        action="store_true",
        help="keep a small data set on the device",
    )
    fast(
        "--cuda-graph",
        action="store_true",
        help="replay each training step as a CUDA graph",
    )
    control = parser.add_argument_group("run control").add_argument
    control(
        "--limit-batches",
        type=positive_int,
        help="at most this many batches per epoch and eval",
    )
    control(
        "--log-every",
        type=positive_int,
        default=20,
        help="steps between progress-bar updates",
    )
    control(
        "--skip-nonfinite", action="store_true", help="skip NaN/inf losses, not stop"
    )
    control(
        "--skip-bad-images",
        action="store_true",
        help="skip undecodable images, counted",
    )
    return parser.parse_args(argv)


def restore_flags(args: argparse.Namespace, resumed: dict) -> None:
    """The resumed run's flags, where this command line does not set them."""
    for name, value in resumed.get("flags", {}).items():
        if getattr(args, name, None) in (None, False):
            setattr(args, name, value)


def load_config(args: argparse.Namespace, resumed: dict | None = None) -> dict:
    """configs/default.yaml (or --config, or the config of the run being resumed), with the
    command line's overrides."""
    if resumed is not None and args.config is None:
        config = resumed["config"]
    else:
        path = args.config or DEFAULT_CONFIG
        try:
            config = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as error:
            raise SystemExit(
                f"cannot read the config {path}: {error.strerror}"
            ) from None
        except yaml.YAMLError as error:
            raise SystemExit(f"{path} is not valid YAML: {error}") from None
        check_config(config, path)
    if args.seed is not None:
        config["seed"] = args.seed
    if args.workers is not None:
        config["data"]["num_workers"] = args.workers
    if args.val_split is not None:
        config["data"]["val_split"] = args.val_split
    for phase in config["train"]["phases"]:
        if args.epochs is not None:
            phase["epochs"] = args.epochs
        if args.batch_size is not None:
            phase["batch_size"] = args.batch_size
        if args.lr is not None:
            phase["optimizer"]["lr"] = args.lr
    return config


def check_config(config, path: Path) -> None:
    """Name the first setting a hand-edited config lacks, rather than fail later on a KeyError."""

    def require(section, keys: tuple[str, ...], where: str) -> None:
        for key in keys:
            value = section
            for part in key.split("."):
                if not isinstance(value, dict) or part not in value:
                    raise SystemExit(
                        f"{path}: the setting {where}{key} is missing "
                        f"(compare with {DEFAULT_CONFIG})"
                    )
                value = value[part]

    require(config, ("seed", "data.image_size", "data.num_workers", "data.root"), "")
    require(config, ("train.grad_clip", "train.label_smoothing", "train.phases"), "")
    if not isinstance(config["train"]["phases"], list) or not config["train"]["phases"]:
        raise SystemExit(f"{path}: train.phases must be a list of at least one phase")
    for number, phase in enumerate(config["train"]["phases"]):
        where = f"train.phases[{number}]."
        needed = ("name", "epochs", "batch_size", "trainable", "frozen")
        require(
            phase, needed + ("optimizer.name", "optimizer.lr", "schedule.name"), where
        )
        for key in ("epochs", "batch_size"):
            if not isinstance(phase[key], int) or phase[key] < 1:
                raise SystemExit(
                    f"{path}: {where}{key} must be a whole number of at least 1"
                )


@dataclass
class Run:
    """Where and how this process trains: device, DDP rank, precision, memory layout."""

    args: argparse.Namespace
    config: dict
    device: torch.device
    rank: int = 0
    local_rank: int = 0
    world: int = 1
    precision: str = "fp32"
    compile: bool = False
    memory_format: torch.memory_format = torch.contiguous_format
    history: list[dict] = field(default_factory=list)
    best_acc: float = -1.0

    @property
    def master(self) -> bool:
        return self.rank == 0

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"

    def log(self, *args) -> None:
        if self.master:
            print(*args, flush=True)

    def autocast(self):
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.precision)
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=dtype)


def pick_device(name: str) -> torch.device:
    """--device auto|cpu|cuda as a torch device."""
    if name == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA GPU is available")
    cuda = name == "cuda" or (name == "auto" and torch.cuda.is_available())
    return torch.device("cuda" if cuda else "cpu")


def start_run(args: argparse.Namespace, config: dict) -> Run:
    """Pick the device, join the DDP group under torchrun, switch on what makes a GPU fast."""
    run = Run(args, config, pick_device(args.device))
    cuda = run.cuda
    # torchrun: one process per GPU (or per CPU slot, with gloo)
    if "RANK" in os.environ:
        run.rank, run.local_rank = int(os.environ["RANK"]), int(
            os.environ["LOCAL_RANK"]
        )
        run.world = int(os.environ["WORLD_SIZE"])
        if cuda:
            torch.cuda.set_device(run.local_rank)
            run.device = torch.device("cuda", run.local_rank)
        dist.init_process_group(backend="nccl" if cuda else "gloo")
    run.precision = args.precision
    if run.precision == "auto":
        run.precision = "bf16" if cuda and torch.cuda.is_bf16_supported() else "fp32"
    if cuda:
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    run.compile = cuda if args.compile is None else args.compile
    channels_last = cuda if args.channels_last is None else args.channels_last
    run.memory_format = (
        torch.channels_last if channels_last else torch.contiguous_format
    )
    return run


class NonFiniteLoss(Exception):
    pass


class Stop:
    """Ctrl-C and SIGTERM (a cluster's pre-emption) become a clean stop after the current
    step, so that a resumable checkpoint can be written. A second Ctrl-C stops at once.
    """

    def __init__(self) -> None:
        self.requested = False
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self.request)

    def request(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True


def model_inputs(batch: dict, run: Run, transform=None) -> tuple:
    """The model's inputs on the device: images decoded (--decode gpu), normalised, laid out."""
    if "data" in batch:
        skip = run.args.skip_bad_images
        images = data.decode_on_device(batch, transform, run.device, skip)
    else:
        images = batch["image"].to(run.device, non_blocking=True)
    images = data.normalize(images).contiguous(memory_format=run.memory_format)
    return (images,)


def add_totals(totals: torch.Tensor, loss, logits, labels) -> None:
    """Accumulate (loss sum, correct, count) on the device, without a sync."""
    count = torch.tensor(labels.numel(), dtype=torch.float64, device=totals.device)
    correct = (logits.argmax(1) == labels).sum().double()
    totals += torch.stack([loss.detach().double() * count, correct, count])


@torch.no_grad()
def evaluate(model: nn.Module, batches, run: Run, transform=None) -> dict:
    """Loss and accuracy over the validation set; over DDP ranks every sample counts once."""
    model.eval()
    totals = torch.zeros(3, dtype=torch.float64, device=run.device)
    skipped = 0
    for step, batch in enumerate(batches):
        if run.args.limit_batches is not None and step >= run.args.limit_batches:
            break
        skipped += batch.get("skipped", 0)
        if "label" not in batch:  # every sample was an undecodable image
            continue
        inputs = model_inputs(batch, run, transform)
        labels = batch["label"].to(run.device, non_blocking=True)
        with run.autocast():
            logits = model(*inputs).float()
        known = labels >= 0  # VQA: an answer outside the top-N counts as wrong
        loss = (
            F.cross_entropy(logits[known], labels[known])
            if known.any()
            else logits.sum() * 0
        )
        add_totals(totals, loss, logits, labels)
    if run.world > 1:
        skipped = torch.tensor(float(skipped), dtype=totals.dtype, device=run.device)
        totals = torch.cat([totals, skipped.view(1)])
        dist.all_reduce(totals)
        totals, skipped = totals[:3], int(totals[3])
    loss_sum, correct, count = totals.tolist()
    return {
        "loss": loss_sum / max(count, 1),
        "acc": correct / max(count, 1),
        "count": int(count),
        "skipped": skipped,
    }


class GraphedStep:
    """The whole training step (forward, backward, optimizer) captured once as a CUDA graph
    and replayed: small models are then bound neither by Python nor by kernel launches.
    Batches are copied into fixed input tensors; the warm-up steps before the capture are
    undone, so training sees the same weights and optimizer state as without a graph."""

    def __init__(self, model, optimizer, inputs: tuple, labels, run: Run) -> None:
        self.model, self.optimizer, self.run = model, optimizer, run
        self.inputs = [x.clone() for x in inputs]
        self.labels = labels.clone()
        saved = {k: v.clone() for k, v in model.state_dict().items()}
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        # warm up: cudnn autotuning, optimizer state, allocator
        with torch.cuda.stream(side):
            for _ in range(3):
                self.step()
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.loss, self.logits = self.step()
        with torch.no_grad():
            for key, value in model.state_dict().items():
                value.copy_(saved[key])
            for state in optimizer.state.values():
                for value in state.values():
                    if torch.is_tensor(value):
                        value.zero_()

    def step(self) -> tuple[torch.Tensor, torch.Tensor]:
        self.optimizer.zero_grad(set_to_none=False)
        smoothing = self.run.config["train"]["label_smoothing"]
        with self.run.autocast():
            logits = self.model(*self.inputs)
            loss = F.cross_entropy(
                logits.float(), self.labels, label_smoothing=smoothing
            )
        loss.backward()
        self.optimizer.step()
        return loss.detach(), logits.detach()

    def __call__(self, inputs: tuple, labels: torch.Tensor) -> tuple:
        for static, value in zip(self.inputs, inputs):
            static.copy_(value)
        self.labels.copy_(labels)
        self.graph.replay()
        return self.loss, self.logits


@dataclass
class Epoch:
    """One epoch's work: the batches, where to start, and the running totals."""

    number: int  # counting from 0, over all phases
    batches: object
    steps: int
    start_step: int
    totals: torch.Tensor
    warmup: int  # first steps not timed (compilation, autotuning)


def train_epoch(
    run,
    step_model,
    optimizer,
    scaler,
    params,
    epoch: Epoch,
    stop,
    transform,
    graphed=None,
) -> dict:
    """Train one epoch, or its rest from `epoch.start_step`; return steps done and speed."""
    args, settings = run.args, run.config["train"]
    losses = torch.zeros(epoch.steps, device=run.device)
    timer, timed_images, done = None, 0, epoch.start_step
    started = time.perf_counter()
    bar = tqdm(
        total=epoch.steps,
        initial=done,
        desc=f"epoch {epoch.number + 1}",
        disable=not run.master,
        dynamic_ncols=True,
    )
    skipped = 0
    for batch in epoch.batches:
        if done >= epoch.steps:
            break
        if done == epoch.start_step + epoch.warmup:
            if run.cuda:
                torch.cuda.synchronize()
            timer, timed_images = time.perf_counter(), 0
        skipped += batch.get("skipped", 0)
        if "label" not in batch:  # every sample was an undecodable image
            if run.world > 1:  # the other ranks would wait for this one's gradients
                raise data.DataError(
                    f"a whole batch of undecodable images on rank {run.rank}: "
                    "remove them (their paths are counted with --skip-bad-images) or use a larger batch"
                )
            done += 1
            continue
        # may drop undecodable images' labels
        inputs = model_inputs(batch, run, transform)
        labels = batch["label"].to(run.device, non_blocking=True)
        if graphed is not None:
            loss, logits = graphed(inputs, labels)
        else:
            with run.autocast():
                logits = step_model(*inputs)
                loss = F.cross_entropy(
                    logits.float(), labels, label_smoothing=settings["label_smoothing"]
                )
            if args.skip_nonfinite and not torch.isfinite(loss):
                run.log(
                    f"skipped step {done + 1} of epoch {epoch.number + 1}: loss {loss.item()}"
                )
                done += 1
                continue
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if settings["grad_clip"]:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(params, settings["grad_clip"])
            scaler.step(optimizer)
            scaler.update()
        losses[done] = loss.detach()
        add_totals(epoch.totals, loss, logits, labels)
        timed_images += labels.numel() * run.world
        done += 1
        # checked every step on a CPU (free), every log interval on a GPU (no sync per step)
        synced = not run.cuda or done % args.log_every == 0 or done == epoch.steps
        if synced:
            first = max(epoch.start_step, done - args.log_every)
            window = losses[first:done]
            if not torch.isfinite(window).all():
                bad = first + int((~torch.isfinite(window)).nonzero()[0])
                where = f"epoch {epoch.number + 1}, step {bad + 1}"
                raise NonFiniteLoss(f"the loss became {losses[bad].item()} at {where}")
            if run.master:
                speed = timed_images / max(
                    time.perf_counter() - (timer or started), 1e-9
                )
                bar.set_postfix(
                    loss=f"{losses[done - 1].item():.4f}", img_s=f"{speed:.0f}"
                )
        bar.update(1)
        if run.world > 1 and synced:
            # every rank stops at the same step, or one would wait forever in the next all-reduce
            flag = torch.tensor(float(stop.requested), device=run.device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            stop.requested = bool(flag.item())
        if stop.requested and (run.world == 1 or synced):
            break
    bar.close()
    if run.cuda:
        torch.cuda.synchronize()
    now = time.perf_counter()
    speed = timed_images / max(now - (timer or started), 1e-9)
    return {
        "steps_done": done,
        "seconds": now - started,
        "img_per_s": speed,
        "skipped": skipped,
    }


def load_data(args: argparse.Namespace, config: dict, run: Run) -> tuple:
    """The training and validation sets at the image size of this run. The size and data root
    used are written into the config, which the checkpoints carry to evaluation."""
    image_size = tuple(config["data"]["image_size"])
    if args.decode is None:
        args.decode = "gpu" if run.cuda else "cpu"
    if args.decode == "gpu" and not run.cuda:
        raise SystemExit("--decode gpu needs a CUDA device")
    root = args.data_root or config["data"]["root"]
    if args.dataset == "synthetic":
        root = None
    config["data"]["root"] = str(Path(root).resolve()) if root else None
    try:
        datasets = data.load_datasets(
            root,
            config["data"],
            image_size,
            decode=args.decode,
            seed=config["seed"],
            download=args.download,
        )
    except data.DataError as error:
        raise SystemExit(f"data: {error}") from None
    datasets.train.skip_bad = datasets.val.skip_bad = args.skip_bad_images
    return datasets, image_size


def metrics_row(number: int, phase: dict, totals, val: dict, lr, done: dict) -> dict:
    """One line of metrics.csv."""
    loss_sum, correct, count = totals.tolist()
    return {
        "epoch": number + 1,
        "train_loss": round(loss_sum / count, 6),
        "train_acc": round(correct / count, 6),
        "val_loss": round(val["loss"], 6),
        "val_acc": round(val["acc"], 6),
        "lr": float(lr),
        "seconds": round(done["seconds"], 3),
        "img_per_s": round(done["img_per_s"], 1),
        "phase": phase["name"],
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    resumed = checkpoint.load(args.resume) if args.resume else None
    if resumed is not None:
        restore_flags(args, resumed)
    config = load_config(args, resumed)
    run = start_run(args, config)
    if resumed is not None and args.epochs is not None:
        run.log(
            "note: --epochs changes the length of the resumed run; the learning-rate schedule "
            "of the phase in progress keeps the length it was saved with"
        )
    seed = config["seed"]
    random.seed(seed)
    torch.manual_seed(seed)  # every device's generator too

    if args.skip_nonfinite and run.world > 1:
        raise SystemExit(
            "--skip-nonfinite works in one process: DDP ranks would skip apart"
        )
    datasets, image_size = load_data(args, config, run)
    run.log(f"data: {datasets.description}")
    train_tf, eval_tf = data.build_transforms(image_size, datasets.source)
    workers = config["data"]["num_workers"]
    train_sampler = data.SeededSampler(
        len(datasets.train), seed, shuffle=True, rank=run.rank, world_size=run.world
    )
    val_sampler = data.SeededSampler(
        len(datasets.val), seed, shuffle=False, rank=run.rank, world_size=run.world
    )
    graph, on_device = args.cuda_graph, args.data_on_device or args.cuda_graph
    if graph and (not run.cuda or run.world > 1):
        raise SystemExit("--cuda-graph needs one CUDA device (no torchrun)")
    if on_device:
        try:
            device_train = data.DeviceData(datasets.train, train_tf, run.device, seed)
            device_val = data.DeviceData(datasets.val, eval_tf, run.device, seed)
        except data.DataError as error:
            raise SystemExit(f"data: {error}") from None
    model_args = {"num_classes": len(datasets.classes)}
    model = MyCNN(**model_args)
    model.to(device=run.device, memory_format=run.memory_format)
    scaler = torch.amp.GradScaler(run.device.type, enabled=run.precision == "fp16")
    out = args.out or (args.resume.parent if args.resume else Path("runs") / BLUEPRINT)
    if run.master:
        out.mkdir(parents=True, exist_ok=True)

    def state(phase_index: int, epoch: int, step: int, totals) -> dict:
        return {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "schedule": schedule.state_dict(),
            "scaler": scaler.state_dict(),
            "phase": phase_index,
            "phase_name": phases[phase_index]["name"],
            "epoch": epoch,
            "step": step,
            "totals": totals.tolist(),
            "best_acc": run.best_acc,
            "history": run.history,
            "rng": checkpoint.rng_state(),
            "blueprint": BLUEPRINT,
            "model_args": model_args,
            "classes": datasets.classes,
            "config": config,
            "data_source": datasets.source,
            "flags": {name: getattr(args, name) for name in RESUMED_FLAGS},
        }

    start_epoch, start_step = 0, 0
    if resumed is not None:
        if resumed.get("blueprint") != BLUEPRINT:
            run.log(
                f"note: {args.resume} comes from the blueprint {resumed.get('blueprint')!r}"
            )
        checkpoint.check_compatible(model, resumed["model"], args.resume)
        model.load_state_dict(resumed["model"])
        run.history, run.best_acc = resumed["history"], resumed["best_acc"]
        start_epoch, start_step = resumed["epoch"], resumed["step"]
        where = (
            f"phase {resumed['phase_name']}, epoch {start_epoch + 1}, step {start_step}"
        )
        run.log(f"resuming {args.resume} at {where}")

    stop = Stop()
    phases = config["train"]["phases"]
    phase_start = 0
    for phase_index, phase in enumerate(phases):
        phase_end = phase_start + phase["epochs"]
        if start_epoch >= phase_end:  # finished before the checkpoint
            phase_start = phase_end
            continue
        batch_size = phase["batch_size"]
        params = set_trainable(model, phase)
        optimizer = make_optimizer(params, phase["optimizer"], run.device, graph)
        schedule = make_schedule(optimizer, phase["schedule"], phase["epochs"])
        resume_totals = None
        if resumed is not None:
            if resumed["phase"] == phase_index:  # resuming inside this phase
                optimizer.load_state_dict(resumed["optimizer"])
                schedule.load_state_dict(resumed["schedule"])
                scaler.load_state_dict(resumed["scaler"])
                resume_totals = resumed["totals"] if start_step else None
            checkpoint.set_rng_state(resumed["rng"])
            resumed = None
        # DDP hooks only the parameters that train, so it is wrapped anew for every phase
        step_model = model
        if run.world > 1:
            step_model = DistributedDataParallel(
                model, device_ids=[run.local_rank] if run.cuda else None
            )
        if run.compile and not graph:
            step_model = torch.compile(step_model)
        loader = data.make_loader(
            datasets.train, train_sampler, batch_size, workers, run.cuda, drop_last=True
        )
        val_loader = data.make_loader(
            datasets.val, val_sampler, batch_size, workers, run.cuda, drop_last=False
        )
        trains = f"{sum(p.numel() for p in params):,} parameters"
        settings = phase["optimizer"]
        run.log(
            f"phase {phase['name']}: {phase['epochs']} epochs, {settings['name']} "
            f"lr {settings['lr']}, training {trains}"
        )
        graphed = None
        for number in range(max(start_epoch, phase_start), phase_end):
            resume_step, start_step = start_step, 0
            train_sampler.set_epoch(number, resume_step * batch_size)
            model.train()
            freeze_norm_statistics(model)
            steps = len(datasets.train) // run.world // batch_size
            if args.limit_batches is not None:
                steps = min(steps, args.limit_batches)
            if steps == 0:
                raise SystemExit(
                    f"{len(datasets.train)} training samples over {run.world} processes "
                    f"make no batch of {batch_size}: lower --batch-size"
                )
            totals = torch.zeros(3, dtype=torch.float64, device=run.device)
            if resume_totals is not None:
                totals += torch.tensor(
                    resume_totals, dtype=totals.dtype, device=run.device
                )
                resume_totals = None
            batches, val_batches = loader, val_loader
            if on_device:
                batches = device_train.batches(train_sampler, batch_size, number, True)
                val_batches = device_val.batches(val_sampler, batch_size, number, False)
            if graph and graphed is None:
                first = next(
                    device_train.batches(train_sampler, batch_size, number, True)
                )
                graphed = GraphedStep(
                    model, optimizer, model_inputs(first, run), first["label"], run
                )
            warmup = 3 if run.compile and run.cuda and number == phase_start else 0
            epoch = Epoch(number, batches, steps, resume_step, totals, warmup)
            done = train_epoch(
                run,
                step_model,
                optimizer,
                scaler,
                params,
                epoch,
                stop,
                train_tf,
                graphed,
            )
            if stop.requested:
                if run.master:
                    steps_done = done["steps_done"]
                    checkpoint.save(
                        out / "last.pt", state(phase_index, number, steps_done, totals)
                    )
                    run.log(
                        f"stopped at epoch {number + 1}, step {steps_done}: "
                        f"continue with --resume {out / 'last.pt'}"
                    )
                if run.world > 1:
                    dist.destroy_process_group()
                sys.exit(130)
            if run.world > 1:
                dist.all_reduce(totals)
            val = evaluate(model, val_batches, run, eval_tf)
            expected = len(datasets.val) - val["skipped"]
            if args.limit_batches is None and val["count"] != expected:
                raise RuntimeError(f"evaluated {val['count']} of {expected} samples")
            if done["skipped"] or val["skipped"]:
                run.log(
                    f"skipped undecodable images: {done['skipped']} train, {val['skipped']} val"
                )
            lr = optimizer.param_groups[0]["lr"]  # the rate this epoch trained with
            if isinstance(schedule, torch.optim.lr_scheduler.ReduceLROnPlateau):
                metric = "acc" if phase["schedule"]["metric"] == "val_acc" else "loss"
                schedule.step(val[metric])
            else:
                schedule.step()
            row = metrics_row(number, phase, totals, val, lr, done)
            run.history.append(row)
            improved = val["acc"] > run.best_acc
            run.best_acc = max(run.best_acc, val["acc"])
            run.log(
                f"epoch {number + 1}: train loss {row['train_loss']:.4f} "
                f"acc {row['train_acc']:.4f}, val loss {row['val_loss']:.4f} "
                f"acc {row['val_acc']:.4f} ({val['count']} samples), "
                f"{row['img_per_s']:.0f} img/s"
            )
            if run.master:
                saved = state(phase_index, number + 1, 0, totals)
                checkpoint.write_metrics(out / "metrics.csv", run.history)
                if improved:
                    checkpoint.save(out / "best.pt", saved)
                checkpoint.save(out / "last.pt", saved)
                checkpoint.plot_curves(
                    out / "curves.png", run.history, f"{BLUEPRINT}: MyCNN"
                )
        phase_start = phase_end
    if run.world > 1:
        dist.destroy_process_group()
    run.log(
        f"done: best validation accuracy {run.best_acc:.4f}; everything is in {out}"
    )


if __name__ == "__main__":
    try:
        main()
    except data.DataError as error:  # raised while loading a batch
        sys.exit(f"data: {error}")
    except NonFiniteLoss as error:
        sys.exit(
            f"stopped: {error}. The last good checkpoint is kept; lower the learning rate, "
            "or pass --skip-nonfinite."
        )
