"""Templates only print: the project's values come from one context, built once per render
(`ScaffoldContext`, a copier-template-extensions ContextHook that plain copier runs too)."""

from __future__ import annotations

import pstats
import subprocess
import sys

from conftest import REPO

TEMPLATES = REPO / "templates"


def test_no_template_builds_the_project_itself():
    for path in TEMPLATES.rglob("*"):
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            assert "scaffold_project" not in text, path
            assert "scaffold_project" not in path.name, path


def test_conditional_files_are_named_by_what_the_blueprint_switches_on():
    names = sorted(path.name for path in TEMPLATES.rglob("{% if *"))
    assert names == [
        "{% if x.export %}export.py{% endif %}.jinja",
        "{% if x.export %}test_export.py{% endif %}.jinja",
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
    calls: dict[str, int] = {}
    for (file, _, function), (_, _, _, _, callers) in pstats.Stats(str(profile)).stats.items():
        if file.endswith(("scaffold/blueprint.py", "scaffold/plan.py")):
            for (caller_file, _, caller), (count, *_) in callers.items():
                if "pretrained.py" in caller_file:  # torchvision's layout, to compare with
                    continue
                key = f"{function} from {caller}"
                calls[key] = calls.get(key, 0) + count
    reads = {key: n for key, n in calls.items() if key.startswith(("load_", "blueprint_from_d"))}
    assert reads == {"load_blueprint from load": 1}  # Engine.load; never from the answers' data
    assert sum(n for key, n in calls.items() if key.startswith("build_plan from")) == 1
    assert (tmp_path / "r18" / "r18" / "model.py").is_file()
    check = subprocess.run(
        [sys.executable, "-m", "scaffold", "check", str(tmp_path / "r18")],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout + check.stderr
