"""The prepared GPU check: the generated projects on one GPU, each against its reference.

    python benchmarks/gpu_check.py --out OUT            # one CUDA GPU (H100/H200 class), < 8 min
    python benchmarks/gpu_check.py --dry-run --out OUT  # the CPU, tiny sizes: what CI runs
    python benchmarks/gpu_check.py --out OUT --parts bcnn,san   # again, only some parts

It runs the generated projects as they are in examples/ (`python -m PKG.bench`, `python -m
PKG.train`, with examples/PKG on PYTHONPATH) and the hand-tuned references of
benchmarks/gpu_reference.py, every command in a process of its own, one after the other, and
compares each measurement with its reference taken in the same run (issue 17's goals):

- cifar: the CIFAR ResNet [2,2,2] at batch 128, compute only, `--cuda-graph` against eager
  (`--no-compile`): at least 5x.
- train: a short real training on the GPU (resnet_cifar, synthetic data, bf16, torch.compile): its
  training loss falls, about as much as in the same run on the CPU; and the same with
  `--cuda-graph` (data on the GPU), whose loss must fall too.
- bcnn: the B-CNN (VGG-16, 448 px, batch 32), compute only, against the hand-tuned reference: at
  least 0.97x; and end to end from a folder of JPEGs, `--decode cpu`.
- bcnn_gpu_decode: the same with `--decode gpu` (in a process of its own), decoding one batch
  ahead on a CUDA stream of its own, and `--decode gpu-inline` (in turn with the steps, on the
  training stream): decoding ahead must be at least as fast. The faster of cpu and gpu must reach
  1000 img/s.
- bcnn_pooling: the B-CNN's bilinear pooling (benchmarks/pooling_check.py) under bf16 autocast
  with TF32 on, as training runs it, against float64: its outer product within 1e-5 (true
  float32; TF32 is about 1e-4 off), the input's gradient within 1e-4, TF32 on again after.
- san: the SAN (VGG-16 + LSTM, 448 px, batch 32), compute only, against its reference: 0.97x.

The JPEG folder (train/CLASS/*.jpg and val/CLASS/*.jpg, about CUB's size: 6000 images of
500x375) is written into a temporary folder first, and removed at the end.

Every command has a time limit, and the whole check a budget (`--budget`, 460 s): a command that
fails, or runs out of time, is a row of the table with its error, and the others still run.
Writes OUT/gpu_check.md (the table, with date, GPU, torch version and command, ready for
benchmarks/RESULTS.md), OUT/gpu_check.json, and OUT/logs/ (each command's output and results).
Prints the table. Exit status 0 when every goal passed (dry run: when every command ran).

Needs only torch, torchvision, numpy, pyyaml, tqdm and matplotlib: no scaffold, black or copier.
`--dry-run` runs every command on the CPU at tiny sizes (batch 2, 32 px, one step, a few small
JPEGs) through the same code; the commands that need CUDA are reported as skipped, and the GPU
run's command lines are checked against each program's argument parser.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import importlib
import importlib.util
import io
import json
import os
import platform
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone  # not datetime.UTC (3.11): GPU boxes may run 3.10
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
EXAMPLES = REPO / "examples"
ALLOWED = ("torch", "torchvision", "numpy", "yaml", "tqdm", "matplotlib")


@dataclass(frozen=True)
class Sizes:
    """How large the runs are: on a GPU, the goals' sizes; in a dry run, tiny ones on the CPU."""

    device: tuple[str, ...]  # flags naming the device ((): the programs' default, CUDA)
    batch: int  # B-CNN and SAN
    image: tuple[str, ...]  # B-CNN and SAN (): the blueprints' 448 px
    steps: int  # timed steps of B-CNN and SAN, compute only and end to end
    warmup: int
    cifar: tuple[str, ...]  # the CIFAR ResNet bench's sizes
    train: tuple[str, ...]  # the short trainings' sizes
    compile: str  # --compile for the GPU training (--no-compile on the CPU: it takes minutes)
    workers: int  # loader processes, end to end
    jpegs: tuple[int, int, int, int]  # training images, classes, width, height
    pooling: tuple[str, ...]  # benchmarks/pooling_check.py's sizes


GPU = Sizes(
    device=(),
    batch=32,
    image=(),
    # 120 timed steps: the end-to-end mean over 3840 images, past the first burst of 16 workers
    steps=120,
    warmup=20,
    cifar=("--batch-size", "128", "--steps", "200", "--warmup", "20"),
    train=("--epochs", "3"),
    compile="--compile",
    workers=min(16, os.cpu_count() or 1),
    jpegs=(6000, 20, 500, 375),  # CUB's training split has 5994 images of about 500x375
    pooling=(),  # relu5_3 at 448 px, batch 32
)
DRY = Sizes(
    device=("--device", "cpu"),
    batch=2,
    image=("--image-size", "32"),
    steps=1,
    warmup=0,
    cifar=("--batch-size", "2", "--steps", "1", "--warmup", "0"),
    train=tuple("--epochs 2 --batch-size 8 --limit-batches 2 --image-size 16 --workers 1".split()),
    compile="--no-compile",
    workers=2,
    jpegs=(16, 4, 64, 48),
    pooling=tuple("--device cpu --batch-size 2 --channels 16 --positions 4 --repeats 1".split()),
)


@dataclass(frozen=True)
class Command:
    """One program run: `python -m PROJECT.MODULE ARGS` with examples/PROJECT on PYTHONPATH, or
    (project None) `python benchmarks/MODULE.py ARGS`."""

    project: str | None
    module: str
    args: tuple[str, ...]
    limit_s: float  # at most this long on a GPU (it is killed after)
    cuda: bool = False  # needs CUDA: skipped in a dry run

    def argv(self) -> list[str]:
        if self.project is None:
            return [sys.executable, str(HERE / f"{self.module}.py"), *self.args]
        return [sys.executable, "-m", f"{self.project}.{self.module}", *self.args]


def commands(s: Sizes, logs: Path, work: Path, jpegs: Path) -> dict[str, Command]:
    """Every command of the check, by name, in the order they run."""
    big = (*s.device, "--batch-size", str(s.batch), *s.image)
    big += ("--steps", str(s.steps), "--warmup", str(s.warmup))
    folder = ("--data-root", str(jpegs), "--workers", str(s.workers))
    synthetic = ("--dataset", "synthetic", *s.train)

    def out(name: str) -> tuple[str, str]:
        return ("--json", str(logs / f"{name}.json"))

    def run(name: str) -> tuple[str, str]:
        return ("--out", str(work / name))

    return {
        "cifar eager": Command(
            "resnet_cifar", "bench", (*s.device, *s.cifar, "--no-compile", *out("cifar_eager")), 90
        ),
        "cifar graph": Command(
            "resnet_cifar", "bench", (*s.cifar, "--cuda-graph", *out("cifar_graph")), 90, cuda=True
        ),
        "train gpu": Command(
            "resnet_cifar",
            "train",
            (*synthetic, *s.device, "--precision", "bf16", s.compile, *run("train_gpu")),
            150,
        ),
        "train cpu": Command(
            "resnet_cifar", "train", (*synthetic, "--device", "cpu", *run("train_cpu")), 120
        ),
        "train graph": Command(
            "resnet_cifar", "train", (*synthetic, "--cuda-graph", *run("train_graph")), 90, True
        ),
        "bcnn reference": Command(
            None, "gpu_reference", ("--model", "bcnn", *big, *out("bcnn_reference")), 150
        ),
        "bcnn decode cpu": Command(
            "bcnn_vgg16", "bench", (*big, *folder, "--decode", "cpu", *out("bcnn_cpu")), 180
        ),
        "bcnn decode gpu": Command(
            "bcnn_vgg16",
            "bench",
            (*big, *folder, "--decode", "gpu,gpu-inline", *out("bcnn_gpu")),
            150,
            cuda=True,
        ),
        "bcnn pooling": Command(
            None,
            "pooling_check",
            ("--project", str(EXAMPLES / "bcnn_vgg16"), *s.pooling, *out("bcnn_pooling")),
            60,
        ),
        "san reference": Command(
            None, "gpu_reference", ("--model", "san", *big, *out("san_reference")), 150
        ),
        "san": Command("san_vgg_lstm", "bench", (*big, *out("san")), 150),
    }


PARTS = {
    "cifar": ("cifar eager", "cifar graph"),
    "train": ("train gpu", "train cpu", "train graph"),
    "bcnn": ("bcnn reference", "bcnn decode cpu"),
    "bcnn_gpu_decode": ("bcnn decode gpu",),
    "bcnn_pooling": ("bcnn pooling",),
    "san": ("san reference", "san"),
}


@dataclass
class Outcome:
    """What one command gave: status "ok" with its results, or why not."""

    status: str  # ok, error, timeout, skipped, not run
    seconds: float = 0.0
    error: str = ""
    data: dict | list | None = None  # the JSON it wrote, or metrics.csv's rows


@dataclass
class Check:
    sizes: Sizes
    dry_run: bool
    out: Path
    work: Path
    deadline: float
    commands: dict[str, Command]
    outcomes: dict[str, Outcome] = field(default_factory=dict)

    @property
    def logs(self) -> Path:
        return self.out / "logs"

    def run(self, name: str) -> Outcome:
        """Run one command in its own process group, within its limit and the check's budget."""
        command = self.commands[name]
        if command.cuda and self.dry_run:
            return Outcome("skipped", error="needs CUDA (dry run on the CPU)")
        left = self.deadline - time.monotonic()
        limit = min(left, command.limit_s if not self.dry_run else 600)
        if limit < 20:
            return Outcome("not run", error=f"the check's budget was spent ({left:.0f} s left)")
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "MPLBACKEND": "Agg"}
        if command.project:
            path = [str(EXAMPLES / command.project), os.environ.get("PYTHONPATH", "")]
            env["PYTHONPATH"] = os.pathsep.join(p for p in path if p)
        log = self.logs / f"{name.replace(' ', '_')}.log"
        started = time.monotonic()
        with open(log, "w") as f:
            f.write(f"$ {shlex.join(command.argv())}\n")
            f.flush()
            process = subprocess.Popen(
                command.argv(),
                stdout=f,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.work,
                env=env,
                start_new_session=True,  # its own process group: loader and compile workers too
            )
            try:
                ended = exited(process.pid, limit)
            finally:  # what it left running (a timeout, Ctrl-C, loader workers) ends with it
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                code = process.wait()  # reaped only now: until then its group id is not reused
        seconds = time.monotonic() - started
        if not ended:
            return Outcome("timeout", seconds, f"killed after {limit:.0f} s ({log.name})")
        if code != 0:
            return Outcome("error", seconds, f"exit status {code}: {last_line(log)} ({log.name})")
        try:
            data = self.results_of(command)
        except (OSError, ValueError, KeyError) as error:
            return Outcome("error", seconds, f"no results: {error} ({log.name})")
        return Outcome("ok", seconds, data=data)

    def results_of(self, command: Command) -> dict | list:
        args = list(command.args)
        if "--json" in args:
            return json.loads(Path(args[args.index("--json") + 1]).read_text())
        run = Path(args[args.index("--out") + 1])
        with open(run / "metrics.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        shutil.copy(run / "metrics.csv", self.logs / f"{run.name}_metrics.csv")
        if not rows:
            raise ValueError(f"{run / 'metrics.csv'} has no rows")
        return rows


def exited(pid: int, limit: float) -> bool:
    """Wait until the child `pid` exits, at most `limit` seconds, without reaping it."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
            return True
        time.sleep(0.1)
    return False


def last_line(log: Path) -> str:
    """The last line of a log that says something (an error message, usually)."""
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines()]
    lines = [line for line in lines if line and not line.startswith(("warnings.warn", "^"))]
    return lines[-1][:300] if lines else "(no output)"


# Rows of the table


@dataclass
class Row:
    check: str
    measured: str = "-"
    reference: str = "-"
    ratio: float | None = None
    goal: str = "-"
    result: str = "-"
    notes: str = ""
    values: dict = field(default_factory=dict)  # the raw numbers, for the JSON


class Missing(Exception):
    """A command that a row needs did not give its results: why, and its status (a row whose
    command was skipped is skipped)."""

    def __init__(self, message: str, status: str = "error") -> None:
        super().__init__(message)
        self.status = status


def data(check: Check, name: str) -> dict | list:
    outcome = check.outcomes.get(name)
    if outcome is None:
        raise Missing(f"{name}: not selected (--parts)", "not run")
    if outcome.status != "ok":
        raise Missing(f"{name}: {outcome.status}, {outcome.error}", outcome.status)
    return outcome.data


def speed(results: dict, prefix: str = "compute only") -> dict:
    """The first run of a bench's JSON whose name starts with `prefix`."""
    for name, run in results["runs"].items():
        if name.startswith(prefix):
            return {**run, "name": name}
    raise Missing(f"no run {prefix!r} among: {', '.join(results['runs']) or 'none'}")


def img_s(value: float) -> str:
    return f"{value:,.0f} img/s" if value >= 100 else f"{value:.3g} img/s"


def judged(check: Check, row: Row, passed: bool) -> Row:
    row.result = "ran" if check.dry_run else ("pass" if passed else "FAIL")
    return row


def unavailable(row: Row, error: Missing) -> Row:
    row.result, row.notes = error.status, f"{row.notes}; {error}" if row.notes else str(error)
    return row


def compare(check: Check, title: str, name: str, reference: str, goal: float, of: str) -> Row:
    """A compute-only speed against its reference's: the goal is `ratio >= goal`."""
    row = Row(title, goal=f">= {goal:g}x {of}")
    try:
        results = data(check, name)
        ran = speed(results)
    except Missing as error:
        return unavailable(row, error)
    peak = results.get("peak_tflops")
    row.measured, row.values["measured"] = img_s(ran["img_per_s"]), ran
    row.notes = describe(ran, peak)
    try:
        ref = speed(data(check, reference))
    except Missing as error:
        return unavailable(row, error)
    row.reference, row.values["reference"] = img_s(ref["img_per_s"]), ref
    row.ratio = ran["img_per_s"] / ref["img_per_s"]
    row.notes += f"; reference: {describe(ref, peak)}"
    return judged(check, row, row.ratio >= goal)


def describe(run: dict, peak_tflops: float | None) -> str:
    parts = [f"{run['step_ms']:.1f} ms/step"]
    if run.get("tflops") is not None:
        mfu = f" (MFU {run['tflops'] / peak_tflops:.0%})" if peak_tflops else ""
        parts.append(f"{run['tflops']:.1f} TFLOP/s{mfu}")
    if run.get("peak_memory_gib") is not None:
        parts.append(f"{run['peak_memory_gib']:.1f} GiB")
    if run.get("warmup_s") is not None:
        parts.append(f"warm-up {run['warmup_s']:.0f} s")
    return ", ".join(parts)


def sizes_of(s: Sizes, batch: int | None = None) -> str:
    size = s.image[-1] if s.image else "448"
    return f"{size} px, batch {batch or s.batch}"


def rows_cifar(check: Check) -> list[Row]:
    batch = check.sizes.cifar[check.sizes.cifar.index("--batch-size") + 1]
    title = f"CIFAR ResNet [2,2,2], batch {batch}, compute only: `--cuda-graph` against eager"
    return [compare(check, title, "cifar graph", "cifar eager", 5, "eager")]


def losses(rows: list) -> tuple[float, float]:
    return float(rows[0]["train_loss"]), float(rows[-1]["train_loss"])


def last_epoch(rows: list) -> str:
    row = rows[-1]
    return f"val_acc {float(row['val_acc']):.3f}, {float(row['img_per_s']):,.0f} img/s"


def rows_train(check: Check) -> list[Row]:
    flags = f"--precision bf16 {check.sizes.compile}"
    gpu = Row(
        f"Training (resnet_cifar, synthetic data, `{flags}`): the loss falls",
        goal="falls, >= 0.5x as much as on the CPU",
    )
    graph = Row("Training with `--cuda-graph` (data on the GPU): the loss falls", goal="falls")
    rows = [gpu, graph]
    try:
        metrics = data(check, "train gpu")
    except Missing as error:
        unavailable(gpu, error)
    else:
        first, last = losses(metrics)
        gpu.measured, gpu.values["measured"] = f"loss {first:.3f} -> {last:.3f}", metrics
        gpu.notes = f"{len(metrics)} epochs; last epoch: {last_epoch(metrics)}"
        try:
            cpu = data(check, "train cpu")
        except Missing as error:  # judged on the GPU run alone
            gpu.notes += f"; no CPU run to compare: {error}"
            judged(check, gpu, last < first)
        else:
            cpu_first, cpu_last = losses(cpu)
            gpu.reference = f"CPU, fp32: loss {cpu_first:.3f} -> {cpu_last:.3f}"
            gpu.values["reference"] = cpu
            gpu.notes += f"; CPU last epoch: {last_epoch(cpu)}"
            if cpu_last < cpu_first:
                gpu.ratio = (first - last) / (cpu_first - cpu_last)
            judged(check, gpu, last < first and (gpu.ratio is None or gpu.ratio >= 0.5))
    try:
        metrics = data(check, "train graph")
    except Missing as error:
        unavailable(graph, error)
    else:
        first, last = losses(metrics)
        graph.measured, graph.values["measured"] = f"loss {first:.3f} -> {last:.3f}", metrics
        graph.notes = f"{len(metrics)} epochs; last epoch: {last_epoch(metrics)}"
        judged(check, graph, last < first)
    return rows


def rows_bcnn(check: Check) -> list[Row]:
    title = f"B-CNN VGG-16, {sizes_of(check.sizes)}, compute only"
    compute = compare(check, title, "bcnn decode cpu", "bcnn reference", 0.97, "hand-tuned")
    with contextlib.suppress(Missing):  # the same step measured again, in the other process
        again = speed(data(check, "bcnn decode gpu"))
        compute.notes += f"; again, in the decode-gpu process: {img_s(again['img_per_s'])}"
    rows, ends = [compute], {}
    for decode in ("cpu", "gpu"):
        name = f"bcnn decode {decode}"
        row = Row(
            f"B-CNN end to end from JPEGs, `--decode {decode}`, {check.sizes.workers} workers"
        )
        row.goal = "the faster >= 1000 img/s"
        rows.append(row)
        try:
            results = data(check, name)
            ran, alone = speed(results, f"end to end, decode {decode},"), speed(results)
        except Missing as error:
            unavailable(row, error)
            continue
        ends[decode] = ran["img_per_s"]
        row.measured, row.reference = img_s(ran["img_per_s"]), img_s(alone["img_per_s"])
        row.ratio, row.values = ran["img_per_s"] / alone["img_per_s"], {"measured": ran}
        row.result = "info"
        row.notes = f"reference: compute only, same process; {ran['step_ms']:.1f} ms/step"
    rows.append(decoding_ahead(check))
    best = Row("B-CNN end to end, the faster decode", goal=">= 1000 img/s")
    rows.append(best)
    if not ends:
        best.result, best.notes = "error", "no end-to-end run gave results"
        return rows
    faster = max(ends, key=ends.get)
    best.measured, best.values = img_s(ends[faster]), {"img_per_s": ends, "faster": faster}
    best.notes = f"--decode {faster}" + ("" if len(ends) == 2 else " (the only one that ran)")
    judged(check, best, ends[faster] >= 1000)
    return rows


def decoding_ahead(check: Check) -> Row:
    """`--decode gpu` (one batch ahead, on a CUDA stream of its own) against `--decode gpu-inline`
    (in turn with the steps, on the training stream), in the same process."""
    row = Row(
        "B-CNN end to end, `--decode gpu` one batch ahead against in turn (`gpu-inline`)",
        goal=">= 1x in turn",
    )
    try:
        results = data(check, "bcnn decode gpu")
        ahead = speed(results, "end to end, decode gpu,")
        in_turn = speed(results, "end to end, decode gpu-inline,")
    except Missing as error:
        return unavailable(row, error)
    row.measured, row.reference = img_s(ahead["img_per_s"]), img_s(in_turn["img_per_s"])
    row.ratio = ahead["img_per_s"] / in_turn["img_per_s"]
    row.values = {"measured": ahead, "reference": in_turn}
    row.notes = f"{ahead['step_ms']:.1f} against {in_turn['step_ms']:.1f} ms/step"
    return judged(check, row, row.ratio >= 1.0)


def rows_pooling(check: Check) -> list[Row]:
    row = Row(
        "B-CNN bilinear pooling under bf16 autocast and TF32: outer product against float64",
        goal="<= 1e-5 (grad <= 1e-4), TF32 on after",
    )
    try:
        ran = data(check, "bcnn pooling")["runs"]["pooling"]
    except (Missing, KeyError) as error:
        return [unavailable(row, error if isinstance(error, Missing) else Missing(repr(error)))]
    row.measured, row.reference = f"{ran['gram_error']:.1e}", f"TF32: {ran['gram_error_tf32']:.1e}"
    row.values = ran
    row.notes = (
        f"pooled {ran['pooled_error']:.1e}, input gradient {ran['grad_error']:.1e} off float64; "
        f"TF32 on after: {ran['tf32_restored']}; outer product forward and backward "
        f"{ran['product_ms_fp32']:.2f} ms in float32, {ran['product_ms_tf32']:.2f} ms in TF32 "
        f"({ran['device']}, {'x'.join(map(str, ran['shape']))})"
    )
    passed = ran["gram_error"] <= 1e-5 and ran["grad_error"] <= 1e-4 and ran["tf32_restored"]
    return [judged(check, row, passed)]


def rows_san(check: Check) -> list[Row]:
    title = f"SAN VGG-16 + LSTM, {sizes_of(check.sizes)}, compute only"
    return [compare(check, title, "san", "san reference", 0.97, "hand-tuned")]


ROWS = {  # the rows, and the parts whose commands they read
    rows_cifar: ("cifar",),
    rows_train: ("train",),
    rows_bcnn: ("bcnn", "bcnn_gpu_decode"),
    rows_san: ("san",),
    rows_pooling: ("bcnn_pooling",),
}


def parse_check(gpu_commands: dict[str, Command]) -> Row:
    """Dry run: the GPU run's command lines, each through its program's own argument parser."""
    row = Row("The GPU run's command lines, parsed by each program", goal="all accepted")
    bad = []
    for name, command in gpu_commands.items():
        folder = HERE if command.project is None else EXAMPLES / command.project
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
        module = (
            command.module if command.project is None else f"{command.project}.{command.module}"
        )
        errors = io.StringIO()
        try:
            with contextlib.redirect_stderr(errors):
                importlib.import_module(module).parse_args(list(command.args))
        except SystemExit:
            bad.append(f"{name}: {(errors.getvalue().strip() or 'exit').splitlines()[-1]}")
    row.measured = f"{len(gpu_commands) - len(bad)} of {len(gpu_commands)}"
    row.result, row.notes = ("ran" if not bad else "error"), "; ".join(bad)
    return row


# The JPEG folder


def write_jpegs(root: Path, count: int, classes: int, width: int, height: int) -> None:
    """train/cCLASS/*.jpg (`count` images) and val/cCLASS/*.jpg (one per class): crops of smooth,
    noisy textures in 8 colourings, at random offsets; as large as photos are as JPEG files (about
    45 KB at 500x375, quality 90)."""
    import torch
    from torchvision.io import write_jpeg

    generator = torch.Generator().manual_seed(0)
    ys = torch.arange(2 * height, dtype=torch.float32)[:, None]
    xs = torch.arange(2 * width, dtype=torch.float32)[None, :]
    waves = torch.sin(xs * 0.013 + ys * 0.002), torch.cos(ys * 0.021), torch.sin((xs + ys) * 0.007)
    texture = torch.stack(torch.broadcast_tensors(*waves))
    texture = (texture + 1) * 110 + 8 * torch.randn(texture.shape, generator=generator)
    gains = 0.6 + 0.4 * torch.rand(8, 3, 1, 1, generator=generator)
    textures = [(texture * gain).clamp(0, 255).to(torch.uint8) for gain in gains]
    offsets = torch.randint(0, min(width, height), (count + classes, 2), generator=generator)

    def write(i: int) -> None:
        split, label = ("train", i % classes) if i < count else ("val", i - count)
        y, x = offsets[i].tolist()
        image = textures[i % len(textures)][:, y : y + height, x : x + width].contiguous()
        write_jpeg(image, str(root / split / f"c{label:03d}" / f"{i:05d}.jpg"), quality=90)

    for split in ("train", "val"):
        for label in range(classes):
            (root / split / f"c{label:03d}").mkdir(parents=True, exist_ok=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one encoder per core: intra-op threads on top only contend
    try:
        with warnings.catch_warnings():  # torchvision 0.29 deprecates its codecs (for TorchCodec)
            warnings.simplefilter("ignore", DeprecationWarning)
            with ThreadPoolExecutor(os.cpu_count() or 1) as pool:  # the codec releases the GIL
                list(pool.map(write, range(count + classes)))
    finally:
        torch.set_num_threads(threads)


# The report


def machine(dry_run: bool) -> dict:
    import torch
    import torchvision

    info = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),  # noqa: UP017
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "cuda": torch.version.cuda,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "missing": [name for name in ALLOWED if importlib.util.find_spec(name) is None],
    }
    if torch.cuda.is_available() and not dry_run:
        properties = torch.cuda.get_device_properties(0)
        info["gpu"] = f"{properties.name} ({properties.total_memory / 2**30:.0f} GiB)"
        info["cudnn"] = torch.backends.cudnn.version()
    else:
        info["gpu"] = "none: dry run on the CPU" if dry_run else "none"
    return info


def markdown(info: dict, rows: list[Row], check: Check, command: str, seconds: float) -> str:
    title = (
        "GPU check (dry run on the CPU: tiny sizes, goals not judged)"
        if check.dry_run
        else ("GPU check")
    )
    cuda = f", CUDA {info['cuda']}, cuDNN {info.get('cudnn')}" if info.get("cudnn") else ""
    lines = [
        f"### {title}, {info['date']}",
        "",
        f"- **GPU:** {info['gpu']}; {info['cpus']} CPUs",
        f"- **Software:** torch {info['torch']}, torchvision {info['torchvision']}{cuda}, "
        f"Python {info['python']}"
        + (f"; missing: {', '.join(info['missing'])}" if info["missing"] else ""),
        f"- **Command:** `{command}` ({seconds:.0f} s in all)",
        "",
        "| check | measured | reference | ratio | goal | result | notes |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        ratio = f"{row.ratio:.2f}x" if row.ratio is not None else "-"
        cells = (row.check, row.measured, row.reference, ratio, row.goal, row.result, row.notes)
        lines.append("| " + " | ".join(str(c).replace("|", "/") for c in cells) + " |")
    lines += ["", "Where the time went (each command in a process of its own, one at a time):", ""]
    lines += ["| command | seconds | status |", "|---|---|---|"]
    for name, outcome in check.outcomes.items():
        status = outcome.status + (f": {outcome.error}" if outcome.error else "")
        lines.append(f"| {name} | {outcome.seconds:.0f} | {status.replace('|', '/')} |")
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python benchmarks/gpu_check.py", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--out", type=Path, required=True, help="where the table and logs go")
    parser.add_argument("--dry-run", action="store_true", help="on the CPU, tiny sizes (CI)")
    parser.add_argument(
        "--parts", default=",".join(PARTS), help=f"comma-separated, of: {', '.join(PARTS)}"
    )
    parser.add_argument(
        "--budget", type=float, help="seconds for the whole check (default: 460; dry run 900)"
    )
    args = parser.parse_args(argv)
    unknown = set(args.parts.split(",")) - set(PARTS)
    if unknown:
        parser.error(f"--parts: unknown {', '.join(sorted(unknown))} (known: {', '.join(PARTS)})")
    return args


def run_commands(check: Check, parts: list[str], started: float) -> None:
    """Write the JPEG folder (if a part needs it), then run the parts' commands, one at a time."""
    folder_error = None
    if {"bcnn", "bcnn_gpu_decode"} & set(parts):
        count, classes, width, height = check.sizes.jpegs
        try:
            write_jpegs(check.work / "jpegs", count, classes, width, height)
        except Exception as error:  # the end-to-end runs fail; the rest still runs
            folder_error = f"could not write the JPEG folder: {type(error).__name__}: {error}"
        wrote = folder_error or f"wrote {count} JPEGs of {width}x{height}"
        print(f"[{time.monotonic() - started:4.0f} s] {wrote}", flush=True)
    for name in (name for part in PARTS if part in parts for name in PARTS[part]):
        print(f"[{time.monotonic() - started:4.0f} s] {name} ...", flush=True)
        if folder_error and "--data-root" in check.commands[name].args:
            outcome = Outcome("error", error=folder_error)
        else:
            try:
                outcome = check.run(name)
            except Exception as error:  # e.g. the log cannot be written: the next may go
                outcome = Outcome("error", error=f"{type(error).__name__}: {error}")
        check.outcomes[name] = outcome
        print(f"       {outcome.status} ({outcome.seconds:.0f} s) {outcome.error}", flush=True)
        log = check.logs / f"{name.replace(' ', '_')}.log"
        if outcome.status in ("error", "timeout") and log.exists():
            lines = log.read_text(errors="replace").splitlines()[-12:]
            print("       | " + "\n       | ".join(lines), flush=True)


def build_rows(check: Check, parts: list[str]) -> list[Row]:
    rows = []
    for build, needs in ROWS.items():
        if set(needs) & set(parts):
            try:
                rows += build(check)
            except Exception as error:  # a bug here, or odd results: the other rows still count
                name = build.__name__.removeprefix("rows_")
                rows.append(Row(name, result="error", notes=f"{type(error).__name__}: {error}"))
    if check.dry_run:
        try:
            rows.append(parse_check(commands(GPU, check.logs, check.work, check.work / "jpegs")))
        except Exception as error:
            rows.append(Row("The GPU run's command lines", result="error", notes=repr(error)))
    return rows


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    import torch

    if not args.dry_run and not torch.cuda.is_available():
        print("gpu_check: no CUDA GPU here; on a CPU, run it with --dry-run", file=sys.stderr)
        return 2
    sizes = DRY if args.dry_run else GPU
    budget = args.budget or (900 if args.dry_run else 460)
    out = args.out.resolve()
    (out / "logs").mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    parts = args.parts.split(",")
    check = Check(
        sizes,
        args.dry_run,
        out,
        work,
        started + budget,
        commands(sizes, out / "logs", work, work / "jpegs"),
    )
    try:
        run_commands(check, parts, started)
        rows = build_rows(check, parts)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    info = machine(args.dry_run)
    command = shlex.join(["python", "benchmarks/gpu_check.py", *(argv or sys.argv[1:])])
    seconds = time.monotonic() - started
    table = markdown(info, rows, check, command, seconds)
    (out / "gpu_check.md").write_text(table)
    results = {
        **info,
        "command": command,
        "seconds": seconds,
        "dry_run": args.dry_run,
        "rows": [row.__dict__ for row in rows],
        "commands": {name: outcome.__dict__ for name, outcome in check.outcomes.items()},
    }
    (out / "gpu_check.json").write_text(json.dumps(results, indent=1, default=str))
    print("\n" + table)
    ok = ("ran", "info", "skipped") if args.dry_run else ("pass", "info")
    return 0 if all(row.result in ok for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
