"""Templates only print: the project's values come from one context, built once per render
(`ScaffoldContext`, a copier-template-extensions ContextHook that plain copier runs too)."""

from __future__ import annotations

import dataclasses
import pstats
import re
import subprocess
import sys
from pathlib import Path

import yaml
from conftest import REPO, run_scaffold
from template_repos import template_repo

TEMPLATES = REPO / "templates"


def test_no_template_builds_the_project_itself():
    for path in TEMPLATES.rglob("*"):
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            assert "scaffold_project" not in text, path
            assert "scaffold_project" not in path.name, path


def test_every_value_a_template_names_is_the_projects():
    """Jinja prints a name the context lacks as nothing: each `p.NAME` (`p.CONCERN.NAME`) and
    `x.NAME` in a template's tags is a value of scaffold.project's Project (its concern objects)
    and Pieces, so that a renamed value cannot leave a template printing nothing."""
    from scaffold.blueprint import load_blueprint
    from scaffold.project import Pieces, Project

    project = Project("lenet", load_blueprint(REPO / "blueprints" / "lenet.yaml"))
    fields = {field.name for field in dataclasses.fields(Project)}
    pieces = {field.name for field in dataclasses.fields(Pieces)}
    missing = []
    for path in TEMPLATES.rglob("*.jinja"):
        text = path.name + path.read_text(encoding="utf-8")
        for tag in re.findall(r"\{\{.*?\}\}|\{%.*?%\}", text, flags=re.DOTALL):
            for name, inner in re.findall(r"\bp\.(\w+)(?:\.(\w+))?", tag):
                if name not in fields and not hasattr(Project, name):
                    missing.append(f"{path.name}: p.{name}")
                elif name in ("run", "prose", "code", "pyproject"):
                    if not hasattr(type(getattr(project, name)), inner):
                        missing.append(f"{path.name}: p.{name}.{inner}")
            missing += [
                f"{path.name}: x.{n}" for n in re.findall(r"\bx\.(\w+)", tag) if n not in pieces
            ]
    assert not missing


def test_conditional_files_are_named_by_what_the_blueprint_switches_on():
    names = sorted(path.name for path in TEMPLATES.rglob("{% if *"))
    assert names == [
        '{% if "export" in x.features %}export.py{% endif %}.jinja',
        '{% if "export" in x.features %}test_export.py{% endif %}.jinja',
        "{% if x.feature_cache %}features.py{% endif %}.jinja",
    ]


def test_copier_loads_the_context_hook_from_the_templates_own_engine():
    copier_yml = (REPO / "copier.yml").read_text(encoding="utf-8")
    assert "scaffold/copier_extension.py:ScaffoldContext" in copier_yml


def test_scaffold_new_reads_a_blueprint_once_and_plans_it_once(tmp_path):
    """The file is read and planned once (checks, located errors); the render gets that
    Project (the answers file keeps the blueprint's key order, so `check` and `update` render
    the same data). The pretrained check runs inside that one plan, and plans torchvision's
    reference at most once (not at all for a bundled family blueprint, which is the
    reference)."""
    profile = tmp_path / "new.prof"
    blueprint = REPO / "blueprints" / "resnet18.yaml"
    subprocess.run(
        [sys.executable, "-m", "cProfile", "-o", str(profile), "-m", "scaffold", "new"]
        + ["--blueprint", str(blueprint), str(tmp_path / "r18")],
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    reads, plans = _reads_and_plans(profile)
    assert reads == {"load_blueprint from load": 1}  # Engine.load; never from the answers' data
    assert plans == 1
    assert (tmp_path / "r18" / "r18" / "model.py").is_file()
    check = subprocess.run(
        [sys.executable, "-m", "scaffold", "check", str(tmp_path / "r18")],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout + check.stderr


def _reads_and_plans(profile: Path) -> tuple[dict[str, int], int]:
    """What read a blueprint (from a file or from data), and how many plans were built, in a
    profiled run (by any engine: this package, or a template checkout's copy)."""
    calls: dict[str, int] = {}
    for (file, _, function), (_, _, _, _, callers) in pstats.Stats(str(profile)).stats.items():
        if file.endswith(("scaffold/blueprint.py", "scaffold/plan.py")):
            for (caller_file, _, caller), (count, *_) in callers.items():
                if "pretrained.py" in caller_file:  # torchvision's layout, to compare with
                    continue
                key = f"{function} from {caller}"
                calls[key] = calls.get(key, 0) + count
    reads = {key: n for key, n in calls.items() if key.startswith(("load_", "blueprint_from_d"))}
    return reads, sum(n for key, n in calls.items() if key.startswith("build_plan from"))


def _profiled(profile: Path, *args) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, "-m", "cProfile", "-o", str(profile), "-m", "scaffold", *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def test_update_with_a_blueprint_reads_and_plans_it_once_and_check_once(tmp_path, monkeypatch):
    """`update --blueprint` reads and plans the file with the recorded version's engine and hands
    that project to copier's render of the version (an engine loaded from copier's own clone,
    with the same files), as `new` does; the recorded blueprint is read from the answers and
    planned once, for the render of the project as it was. `check` renders once, and so does a
    plain `update` (one version: the project is up to date)."""
    for key in ("GIT_AUTHOR", "GIT_COMMITTER"):
        monkeypatch.setenv(f"{key}_NAME", "Test User")
        monkeypatch.setenv(f"{key}_EMAIL", "test@example.com")
    template = template_repo(tmp_path / "tmpl")
    project = tmp_path / "proj"
    lenet = (REPO / "blueprints" / "lenet.yaml").read_text(encoding="utf-8")
    made = run_scaffold(
        "new",
        "--trust",
        "--blueprint",
        REPO / "blueprints" / "lenet.yaml",
        "--template",
        template,
        project,
    )
    assert made.code == 0, made.err
    changed = tmp_path / "changed.yaml"
    changed.write_text(lenet.replace("- linear: 120\n", "- linear: 100\n"), encoding="utf-8")

    _profiled(tmp_path / "update.prof", "update", "--trust", project, "--blueprint", changed)
    reads, plans = _reads_and_plans(tmp_path / "update.prof")
    assert reads == {"load_blueprint from load": 1, "blueprint_from_data from _project": 1}
    assert plans == 2  # the changed blueprint, and the recorded one
    assert "nn.Linear(400, 100)" in (project / "proj" / "model.py").read_text(encoding="utf-8")
    subprocess.run(["git", "-C", str(project), "commit", "-qam", "new blueprint"], check=True)

    for command in ("check", "update"):
        _profiled(tmp_path / f"{command}.prof", command, "--trust", project)
        reads, plans = _reads_and_plans(tmp_path / f"{command}.prof")
        assert reads == {"blueprint_from_data from _project": 1} and plans == 1, command


ANSWERS = ".copier-answers.yml"
BLOCKS = """\
name: ordered
description: A defined block whose parameters are not in alphabetical order.
input: {channels: 3, height: 16, width: 16}
blocks:
  conv_bn:
    params: {out: ~, stride: 1, kernel: 3}
    layers:
      - conv: {out: $out, kernel: $kernel, stride: $stride, padding: $kernel // 2, bias: false}
      - batch_norm
model:
  layers:
    - conv_bn: {stride: 2, kernel: 1, out: 8}
    - global_avgpool
    - flatten
    - linear: classes
train: {epochs: 1}
"""


def test_a_new_project_keeps_the_blueprints_order_and_checks_clean(tmp_path):
    """The answers file keeps the blueprint's key order, so a defined block's parameters come
    out as they are defined in `scaffold new`, `check` and `update` alike."""
    (tmp_path / "ordered.yaml").write_text(BLOCKS, encoding="utf-8")
    new = run_scaffold("new", "--blueprint", tmp_path / "ordered.yaml", tmp_path / "p")
    assert new.code == 0, new.err
    model = (tmp_path / "p" / "p" / "model.py").read_text(encoding="utf-8")
    assert (
        "def __init__(self, in_channels: int, out: int, stride: int = 1, kernel: int = 3)" in model
    )
    assert "ConvBn(3, out=8, stride=2, kernel=1)" in model  # the definition's order
    recorded = yaml.safe_load((tmp_path / "p" / ANSWERS).read_text(encoding="utf-8"))
    assert recorded["blueprint"] == yaml.safe_load(BLOCKS)
    assert list(recorded["blueprint"]) == list(yaml.safe_load(BLOCKS))
    assert list(recorded["blueprint"]["blocks"]["conv_bn"]["params"]) == ["out", "stride", "kernel"]
    check = run_scaffold("check", tmp_path / "p")
    assert check.code == 0, check.out + check.err


def test_projects_of_older_versions_sorted_answers_still_check_clean(tmp_path):
    """Versions before this one wrote the answers with `to_nice_yaml`, keys sorted, and rendered
    from that order. Such a project (made here from the same blueprint with its keys sorted,
    which gives its answers file byte for byte) still checks clean: `check` renders the order
    its answers file holds."""
    data = yaml.safe_load(BLOCKS)
    (tmp_path / "sorted.yaml").write_text(yaml.safe_dump(data, sort_keys=True), encoding="utf-8")
    new = run_scaffold("new", "--blueprint", tmp_path / "sorted.yaml", tmp_path / "old")
    assert new.code == 0, new.err
    text = (tmp_path / "old" / ANSWERS).read_text(encoding="utf-8")
    answers = yaml.safe_load(text)
    written = {k: v for k, v in answers.items() if k not in ("_scaffold_version", "_black_version")}
    as_before = yaml.dump(written, indent=4, allow_unicode=True, default_flow_style=False)
    assert as_before in text  # what to_nice_yaml wrote
    model = (tmp_path / "old" / "old" / "model.py").read_text(encoding="utf-8")
    assert (
        "def __init__(self, in_channels: int, out: int, kernel: int = 3, stride: int = 1)" in model
    )
    assert "ConvBn(3, kernel=1, out=8, stride=2)" in model  # as older versions rendered it
    check = run_scaffold("check", tmp_path / "old")
    assert check.code == 0, check.out + check.err
