"""Train SEResNet (se_resnet_cifar).

    python -m se_resnet_cifar.train [--data-root DIR] [--epochs N] [--out DIR] [--resume CKPT] ...
    torchrun --nproc_per_node=4 -m se_resnet_cifar.train ...   # DistributedDataParallel

Writes OUT/metrics.csv, OUT/curves.png, OUT/last.pt (every epoch) and OUT/best.pt. --resume
OUT/last.pt goes on exactly where a run stopped, even in mid-epoch, with that run's settings.
"""

import argparse
import itertools
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
from tqdm import tqdm

from . import checkpoint, data
from .model import SEResNet
from .phases import make_optimizer, make_schedule

BLUEPRINT = "se_resnet_cifar"
DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "default.yaml"
# flags that change what a run computes: checkpoints keep them, --resume restores them
RESUMED_FLAGS = ("limit_batches", "skip_nonfinite")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = make_parser("train", __doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add = parser.add_argument
    add("--config", type=Path, help="settings (default: configs/default.yaml or the resumed run's)")
    add("--data-root", help="data folder; without it, the built-in synthetic data")
    add("--dataset", choices=["auto", "synthetic"], default="auto", help="synthetic: no data root")
    add("--epochs", type=positive_int, help="epochs (default: the config's)")
    add("--batch-size", type=positive_int, help="samples per step and process (default: config's)")
    add("--lr", type=float, help="learning rate (default: the config's)")
    add("--device", choices=["auto", "cpu", "cuda"], default="auto")
    add("--out", type=Path, help=f"output folder (default: runs/{BLUEPRINT} or the resumed run's)")
    add("--resume", type=Path, metavar="CKPT", help="continue from a checkpoint (OUT/last.pt)")
    add("--seed", type=int, help="random seed (default: the config's)")
    add("--image-size", type=int, help="image size to train at (at least 1 px)")
    add("--workers", type=int, help="data loader processes (default: the config's)")
    add("--val-split", type=float, help="fraction of the training split held out for validation")
    add("--download", action="store_true", help="download CIFAR-10 into --data-root")
    fast = parser.add_argument_group("speed (defaults: on with CUDA, off on a CPU)").add_argument
    fast("--precision", choices=["auto", "bf16", "fp16", "fp32"], default="auto")
    fast("--compile", action=argparse.BooleanOptionalAction, help="torch.compile the model")
    fast("--channels-last", action=argparse.BooleanOptionalAction, help="NHWC memory format")
    control = parser.add_argument_group("run control").add_argument
    control("--limit-batches", type=positive_int, help="at most this many batches per epoch")
    control("--log-every", type=positive_int, default=20, help="steps between progress updates")
    control("--skip-nonfinite", action="store_true", help="skip steps whose loss is NaN or inf")
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
    overrides; the resumed run's flags too, where the command line does not give them."""
    for name, value in resumed["flags"].items() if resumed else ():
        if getattr(args, name) in (None, False):
            setattr(args, name, value)
    from_checkpoint = resumed is not None and not args.config  # the resumed run's settings
    path = args.resume if from_checkpoint else args.config or DEFAULT_CONFIG
    config = read_config(path, resumed["config"] if from_checkpoint else None)
    config["seed"] = config["seed"] if args.seed is None else args.seed
    config["data"]["val_split"] = args.val_split or config["data"]["val_split"]
    train = config["train"]
    train["epochs"] = args.epochs or train["epochs"]
    train["batch_size"] = args.batch_size or train["batch_size"]
    train["optimizer"]["lr"] = args.lr or train["optimizer"]["lr"]
    return config


def read_config(path: Path, config: dict | None = None) -> dict:
    """A config file, or the `config` of a checkpoint at `path`: a setting it lacks is named."""
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8")) if config is None else config
    except (OSError, yaml.YAMLError) as error:
        raise SystemExit(f"cannot read the config {path}: {error}") from None
    keys = "seed data.image_size data.num_workers data.root data.val_split train.grad_clip"
    keys += " train.label_smoothing train.epochs train.batch_size train.optimizer.lr"
    keys += " train.schedule.name"
    for key in keys.split():
        value = config
        try:  # a part missing, or a value where the key needs a mapping or a list
            for part in key.replace("]", "").replace("[", ".").split("."):
                value = value[int(part) if isinstance(value, list) else part]
        except (KeyError, IndexError, TypeError, ValueError):
            missing = f"{path}: the setting {key} is missing"
            raise SystemExit(f"{missing} (compare {DEFAULT_CONFIG})") from None
    return config


class Run:
    """Where and how this process runs: device, DDP rank (under torchrun), precision and memory
    layout. On a GPU the defaults are fast: bf16, channels_last, cudnn.benchmark, TF32, compile."""

    def __init__(self, device="auto", precision="auto", compile=None, channels_last=None) -> None:
        if device == "cuda" and not torch.cuda.is_available():
            raise SystemExit("--device cuda: no CUDA GPU is available")
        self.cuda = device != "cpu" and torch.cuda.is_available()
        self.device, self.rank, self.world = torch.device("cuda" if self.cuda else "cpu"), 0, 1
        if "RANK" in os.environ:  # torchrun: one process per GPU (or per CPU slot, with gloo)
            self.rank, self.world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
            if self.cuda:
                self.device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
                torch.cuda.set_device(self.device)
            dist.init_process_group(backend="nccl" if self.cuda else "gloo")
        if precision == "auto":
            precision = "bf16" if self.cuda and torch.cuda.is_bf16_supported() else "fp32"
        if self.cuda:
            torch.backends.cudnn.benchmark = True
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        self.precision, self.compile = precision, self.cuda if compile is None else compile
        channels_last = self.cuda if channels_last is None else channels_last
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format

    def log(self, *args) -> None:
        if self.rank == 0:
            print(*args, flush=True)

    def autocast(self):
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.precision)
        return torch.autocast(self.device.type, dtype, enabled=dtype is not None)

    def synchronize(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()


class Stop:
    """Ctrl-C and SIGTERM (pre-emption) stop after the current step, with a checkpoint. A second
    Ctrl-C stops at once (within a second, the same one: torchrun passes it on too)."""

    def __init__(self) -> None:
        self.requested, self.since = False, 0.0
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self.request)

    def request(self, signum, frame) -> None:
        if self.requested and time.monotonic() - self.since > 1:
            raise KeyboardInterrupt
        self.requested, self.since = True, self.since or time.monotonic()


def model_inputs(batch: dict, run: Run) -> tuple[tuple, torch.Tensor]:
    """The model's inputs and the labels on the device, the images normalised."""
    images = data.normalize(batch["image"].to(run.device, non_blocking=True))
    images = images.contiguous(memory_format=run.memory_format)
    labels = batch["label"].to(run.device, non_blocking=True)
    return (images,), labels


def train_step(model, criterion, optimizer, scaler, inputs, labels, run: Run, args):
    """One optimizer step: the loss (None: not finite, skipped) and the logits, detached."""
    with run.autocast():
        logits = model(*inputs)
        loss = criterion(logits.float(), labels)
    if args.skip_nonfinite and not torch.isfinite(loss):
        return None, logits
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    if args.grad_clip:
        scaler.unscale_(optimizer)
        nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
    scaler.step(optimizer)
    scaler.update()
    return loss.detach(), logits.detach()


def train_one_epoch(model, criterion, optimizer, scaler, batches, epoch, steps, run, args, stop):
    """Train epoch `epoch` (from 0), its `steps` not done yet. Returns the steps done, the totals of
    loss, correct predictions and samples, seconds and images per second."""
    totals = torch.zeros(3, dtype=torch.float64, device=run.device)
    losses = torch.zeros(steps.stop, device=run.device)
    done, started, timer, images = steps.start, time.perf_counter(), None, 0
    bar = tqdm(total=steps.stop, initial=done, desc=f"epoch {epoch + 1}", disable=run.rank > 0)
    for index, batch in zip(steps, batches):
        if index == steps.start + (3 if run.compile else 0):  # the first steps compile: untimed
            run.synchronize()
            timer, images = time.perf_counter(), 0
        done = index + 1
        inputs, labels = model_inputs(batch, run)
        loss, logits = train_step(model, criterion, optimizer, scaler, inputs, labels, run, args)
        if loss is None:
            run.log(f"skipped step {done} of epoch {epoch + 1}: the loss is not finite")
        else:
            losses[index] = loss
            totals[0] += loss * len(labels)  # on the device, without a sync
            totals[1] += (logits.argmax(1) == labels).sum()
            totals[2] += len(labels)
            images += len(labels) * run.world
        bar.update()
        # checked every step on a CPU (free), every --log-every steps on a GPU (no sync per step)
        if run.cuda and done % args.log_every and done != steps.stop:
            continue
        window = losses[max(steps.start, done - args.log_every) : done]
        if not torch.isfinite(window).all():
            bad = done - len(window) + int((~torch.isfinite(window)).nonzero()[0])
            where = f"epoch {epoch + 1}, step {bad + 1}"
            fix = "the last checkpoint is kept; lower the learning rate, or pass --skip-nonfinite"
            raise SystemExit(f"stopped: the loss became {losses[bad].item()} at {where}; {fix}")
        bar.set_postfix(loss=f"{losses[index].item():.4f}", refresh=False)
        if run.world > 1:  # every rank stops at the same step, or one would wait for the others
            flag = torch.tensor(float(stop.requested), device=run.device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            stop.requested = bool(flag.item())
        if stop.requested:
            break
    bar.close()
    run.synchronize()
    now = time.perf_counter()
    return done, totals, now - started, images / max(now - (timer or started), 1e-9)


@torch.no_grad()
def evaluate(model, batches, classes: int, run: Run, args) -> dict:
    """Loss, accuracy and confusion matrix (rows: true classes); every sample once over ranks."""
    model.eval()
    loss_sum = torch.zeros((), dtype=torch.float64, device=run.device)
    confusion = torch.zeros(classes * classes, dtype=torch.long, device=run.device)
    top5 = torch.zeros((), dtype=torch.long, device=run.device)  # labels in the top 5
    for batch in itertools.islice(batches, args.limit_batches):
        inputs, labels = model_inputs(batch, run)
        with run.autocast():
            logits = model(*inputs).float()
        loss_sum += nn.functional.cross_entropy(logits, labels, reduction="sum")
        confusion += torch.bincount(labels * classes + logits.argmax(1), minlength=classes**2)
        top5 += (logits.topk(min(5, logits.shape[1]), 1).indices == labels[:, None]).any(1).sum()
    if run.world > 1:
        for total in (loss_sum, confusion, top5):
            dist.all_reduce(total)
    confusion = confusion.view(classes, classes)
    count = int(confusion.sum())
    sums = {"loss": float(loss_sum), "acc": int(confusion.trace()), "top5": int(top5)}
    result = {key: total / max(count, 1) for key, total in sums.items()}  # means per sample
    return result | {"count": count, "confusion": confusion}


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
        return data.load_datasets(root, config["data"], config["seed"], **options)
    except data.DataError as error:
        raise SystemExit(f"data: {error}") from None


def build_model(args, datasets: data.DataSets, run: Run, resumed: dict | None) -> nn.Module:
    """The model, with an output for each class of the data; its weights resumed, if resuming."""
    model = SEResNet(len(datasets.classes))
    if resumed is not None:
        checkpoint.load_weights(model, resumed["model"], args.resume)
    return model.to(device=run.device, memory_format=run.memory_format)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    run = Run(args.device, args.precision, args.compile, args.channels_last)
    resumed = checkpoint.load(args.resume, BLUEPRINT, run.log) if args.resume else None
    config = load_config(args, resumed)
    seed = config["seed"]
    random.seed(seed + run.rank)  # nanoGPT's seed_offset: each rank draws its own dropout masks
    torch.manual_seed(seed + run.rank)  # (DDP gives every rank rank 0's initial weights)
    if args.skip_nonfinite and run.world > 1:
        raise SystemExit("--skip-nonfinite works in one process: DDP ranks would skip apart")
    args.grad_clip = config["train"]["grad_clip"]  # train_step takes its settings from args
    datasets = load_data(args, config, download=args.download)
    if args.val_split is not None and not datasets.held_out:
        raise SystemExit("--val-split: the data has its own validation split")
    run.log(f"data: {datasets.description}")
    model = build_model(args, datasets, run, resumed)
    criterion = nn.CrossEntropyLoss(label_smoothing=config["train"]["label_smoothing"])
    scaler = torch.amp.GradScaler(run.device.type, enabled=run.precision == "fp16")
    out = args.out or (args.resume.parent if args.resume else Path("runs") / BLUEPRINT)
    out.mkdir(parents=True, exist_ok=True)  # on every rank: exist_ok settles the race
    sampler = data.SeededSampler(len(datasets.train), seed, True, run.rank, run.world)
    val_sampler = data.SeededSampler(len(datasets.val), seed, False, run.rank, run.world)
    workers = config["data"]["num_workers"]

    def state(epoch: int, step: int, totals: torch.Tensor) -> dict:
        """Everything a resume needs. Every rank calls it (it gathers their RNG states)."""
        rng = [checkpoint.rng_state()] * run.world
        if run.world > 1:
            dist.all_gather_object(rng, checkpoint.rng_state())
        saved = {"model": model.state_dict(), "optimizer": optimizer.state_dict()}
        saved |= {"schedule": schedule.state_dict(), "scaler": scaler.state_dict()}
        saved |= {"epoch": epoch, "step": step, "totals": totals.tolist()}
        saved |= {"best_acc": best_acc, "history": history, "rng": rng, "blueprint": BLUEPRINT}
        saved |= {"classes": datasets.classes, "config": config}
        return saved | {"flags": {name: getattr(args, name) for name in RESUMED_FLAGS}}

    stop, train = Stop(), config["train"]
    batch_size, params = train["batch_size"], list(model.parameters())
    per_epoch = len(datasets.train) // run.world // batch_size  # steps
    per_epoch = min(per_epoch, args.limit_batches or per_epoch)
    if per_epoch == 0:
        raise SystemExit(f"{len(datasets.train)} samples make no batch of {batch_size}")
    optimizer = make_optimizer(params, train["optimizer"], run.device)
    schedule = make_schedule(optimizer, train["schedule"], train["epochs"])
    history, best_acc, start_epoch, start_step, resumed_totals = [], -1.0, 0, 0, [0.0] * 3
    if resumed is not None:
        optimizer.load_state_dict(resumed["optimizer"])
        schedule.load_state_dict(resumed["schedule"])
        scaler.load_state_dict(resumed["scaler"])
        history, best_acc = resumed["history"], resumed["best_acc"]
        start_epoch, start_step = resumed["epoch"], resumed["step"]
        if start_step and run.rank == 0:  # the epoch's totals so far, over every rank
            resumed_totals = resumed["totals"]
        checkpoint.set_rng_state(resumed["rng"], run.rank, seed)
        run.log(f"resuming {args.resume} at epoch {start_epoch + 1}, step {start_step}")
    step_model = DistributedDataParallel(model) if run.world > 1 else model
    if run.compile:
        step_model = torch.compile(step_model)
    batches = data.make_loader(datasets.train, sampler, batch_size, workers, run.cuda)
    val_batches = data.make_loader(datasets.val, val_sampler, batch_size, workers, run.cuda)
    settings, count = train["optimizer"], sum(p.numel() for p in params)
    run.log(f"{train['epochs']} epochs, {settings['name']} lr {settings['lr']}, {count:,} params")
    for number in range(start_epoch, train["epochs"]):
        start, start_step = start_step, 0
        sampler.set_epoch(number, start * batch_size)
        model.train()
        steps = range(start, per_epoch)
        done, totals, seconds, speed = train_one_epoch(
            step_model, criterion, optimizer, scaler, batches, number, steps, run, args, stop
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
        lr = optimizer.param_groups[0]["lr"]  # the rate this epoch trained with
        schedule.step()
        train_loss, train_acc = (totals[:2] / totals[2]).tolist()  # totals: loss, correct, samples
        row = {"epoch": number + 1, "train_loss": train_loss, "train_acc": train_acc}
        row |= {"val_loss": val["loss"], "val_acc": val["acc"], "lr": float(lr)}
        history.append(row | {"seconds": seconds, "img_per_s": speed, "val_top5": val["top5"]})
        improved, best_acc = val["acc"] > best_acc, max(best_acc, val["acc"])
        trained = f"train loss {train_loss:.4f} acc {train_acc:.4f}"
        validated = f"val loss {val['loss']:.4f} acc {val['acc']:.4f} ({val['count']} samples)"
        run.log(f"epoch {number + 1}: {trained}, {validated}, {speed:.0f} img/s")
        saved = state(number + 1, 0, totals)
        if run.rank == 0:
            if improved:
                checkpoint.save(out / "best.pt", saved)
            checkpoint.save(out / "last.pt", saved)
            checkpoint.write_metrics(out, history, f"{BLUEPRINT}: SEResNet")
    run.log(f"done: best validation accuracy {best_acc:.4f}; everything is in {out}")


if __name__ == "__main__":
    try:
        main()
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
