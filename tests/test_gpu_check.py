"""benchmarks/gpu_check.py works the day a GPU is available: its dry run goes, on the CPU at tiny
sizes, through the code it runs on a GPU, with nothing but torch, torchvision, numpy, pyyaml, tqdm,
matplotlib and what they need (a GPU box has no scaffold, black or copier)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
ALLOWED = {"torch", "torchvision", "numpy", "yaml", "tqdm", "matplotlib"}
HIDDEN = (
    "scaffold",
    "black",
    "copier",
    "copier_templates_extensions",
    "copier_template_extensions",
)
# the check's code: its script, the reference, the generated projects (each process's __main__)
OURS = ("__main__", "gpu_check", "gpu_reference", "pooling_check")
OURS += ("bcnn_vgg16", "san_vgg_lstm", "resnet_cifar")

# Imported first by every Python process of the run (PYTHONPATH reaches the check's children):
# hides the packages a GPU box lacks, and writes down, at exit, each top-level module that the
# check's own code imported (what torch and the others import is theirs to choose).
SITECUSTOMIZE = textwrap.dedent(f"""
    import atexit, builtins, os, sys

    class Hide:
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] in {HIDDEN!r}:
                raise ModuleNotFoundError(f"No module named {{name!r}} (hidden)", name=name)
            return None

    sys.meta_path.insert(0, Hide())
    imported, real_import = set(), builtins.__import__

    def audited_import(name, globals=None, locals=None, fromlist=(), level=0):
        importer = ((globals or {{}}).get("__name__") or "").partition(".")[0]
        if level == 0 and importer in {OURS!r}:
            imported.add(importer + " " + name.partition(".")[0])
        return real_import(name, globals, locals, fromlist, level)

    builtins.__import__ = audited_import

    def write():
        path = os.path.join(os.environ["GPU_CHECK_AUDIT"], f"{{os.getpid()}}.txt")
        with open(path, "w") as f:
            f.write(" ".join(sys.argv) + "\\n" + "\\n".join(sorted(imported)))

    atexit.register(write)
    """)


@pytest.mark.slow
def test_dry_run_writes_the_table_with_only_the_allowed_packages(tmp_path):
    hooks, audit, out = tmp_path / "hooks", tmp_path / "audit", tmp_path / "out"
    hooks.mkdir()
    audit.mkdir()
    (hooks / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env = {**os.environ, "PYTHONPATH": str(hooks), "GPU_CHECK_AUDIT": str(audit)}
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "gpu_check.py"), "--dry-run", "--out", str(out)],
        cwd=tmp_path,  # not the checkout: its scaffold/ must not be importable
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]

    table = (out / "gpu_check.md").read_text()
    assert "| check | measured | reference | ratio | goal | result | notes |" in table
    assert table in done.stdout
    results = json.loads((out / "gpu_check.json").read_text())
    rows = {row["check"]: row for row in results["rows"]}
    skipped = {name for name, row in rows.items() if row["result"] == "skipped"}
    # what needs CUDA, and nothing else, is skipped: the CUDA graph (bench and training), nvJPEG
    # (on its own, and decoding ahead against in turn)
    assert len(skipped) == 4 and all(("cuda-graph" in n or "decode gpu" in n) for n in skipped)
    assert {row["result"] for row in rows.values()} <= {"ran", "info", "skipped"}
    for title in (
        "B-CNN VGG-16",
        "SAN VGG-16 + LSTM",
        "Training (resnet_cifar",
        "the faster decode",
        "bilinear pooling",
    ):
        (row,) = (row for name, row in rows.items() if title in name)
        assert row["result"] == "ran" and row["measured"] != "-", row
    commands = results["commands"]
    assert {name for name, c in commands.items() if c["status"] == "ok"} == {
        "cifar eager",
        "train gpu",
        "train cpu",
        "bcnn reference",
        "bcnn decode cpu",
        "san reference",
        "san",
        "bcnn pooling",
    }
    assert rows["The GPU run's command lines, parsed by each program"]["measured"] == "11 of 11"

    processes = [path.read_text().splitlines() for path in audit.glob("*.txt")]
    assert len(processes) >= 9, processes  # the check and its 8 commands
    for argv, *imports in processes:
        assert imports, argv  # the audit saw the imports
        for line in imports:
            importer, module = line.split()
            allowed = module in ALLOWED or module in OURS or module in sys.stdlib_module_names
            assert allowed, f"{argv}: {importer} imports {module}"
