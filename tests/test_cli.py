"""The command line as a user meets it: validate, inspect, list, help, and `scaffold new`'s
promises about DEST (refused when not empty, --force keeps the user's files, atomic)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import BLUEPRINTS, REPO, run_scaffold
from processes import HAVE_PROC, new_tag, reap, tagged_env

from scaffold import __version__
from scaffold.blueprint import load_blueprint
from scaffold.plan import build_plan

COMMANDS = ["new", "validate", "inspect", "list", "schema", "update", "check", "smoke"]


def test_version():
    result = run_scaffold("--version")
    assert result.code == 0 and __version__ in result.out


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_has_examples(command):
    result = run_scaffold(*([command] if command else []), "--help")
    assert result.code == 0 and "Example" in result.out


def test_validate_prints_ok_for_every_bundled_blueprint():
    result = run_scaffold("validate", *BLUEPRINTS)
    assert result.code == 0, result.err
    assert result.out.count(": ok") == len(BLUEPRINTS)
    single = run_scaffold("validate", BLUEPRINTS[0])
    assert single.out.strip() == "ok"


def test_validate_reports_every_bad_file_and_exits_2(write_blueprint):
    good = BLUEPRINTS[0]
    bad = write_blueprint(
        "name: x\ninput: {channels: 1, height: 8, width: 8}\nmodel:\n  layers: [rleu]\n"
    )
    result = run_scaffold("validate", good, bad)
    assert result.code == 2
    assert f"{bad}:4:12: model.layers[0]: unknown layer type 'rleu'" in result.err
    assert "did you mean 'relu'?" in result.err and "Traceback" not in result.err


def test_validate_suggests_augmentation_but_the_project_gets_none(write_blueprint):
    """Colour images trained without a random transform get a located note with a recipe, on
    stderr after `ok`; the generated project still holds only the blueprint's transforms."""
    result = run_scaffold("validate", *BLUEPRINTS)
    notes = [line for line in result.err.splitlines() if line.startswith("note: ")]
    assert result.code == 0 and result.out.count(": ok") == len(BLUEPRINTS)
    # lenet is grey (a flipped digit is another symbol), the others augment or ask questions
    assert notes == [
        f"note: {REPO / 'blueprints' / 'cifar_net.yaml'}:21:1: data.transforms.train: no random "
        "augmentation: every epoch trains on the same images"
    ]
    assert "`train: [random_crop: {padding: 4}, random_horizontal_flip]`" in result.err
    code = (REPO / "examples" / "cifar_net" / "cifar_net" / "data.py").read_text()
    assert "Random" not in code and "Flip" not in code
    large = write_blueprint("""
        name: large
        input: {channels: 3, height: 160, width: 160}
        model:
          layers: [conv: {out: 4, kernel: 3}, global_avg_pool, flatten, linear: classes]
        data:
          classes: 3
          transforms:
            train: [resize: 176, center_crop]
        train: {epochs: 1}
        """)
    result = run_scaffold("validate", large)
    assert result.code == 0 and result.out.strip() == "ok"
    assert f"note: {large}:8:5: data.transforms.train: no random augmentation" in result.err
    assert "`train: [random_resized_crop, random_horizontal_flip]`" in result.err


@pytest.mark.parametrize("path", BLUEPRINTS, ids=lambda p: p.stem)
def test_inspect_totals_match_the_plan(path):
    result = run_scaffold("inspect", path)
    assert result.code == 0, result.err
    plan = build_plan(load_blueprint(path))
    total = next(line for line in result.out.splitlines() if line.startswith("total"))
    assert f"{plan.total_params:,}" in total and f"{plan.total_macs:,}" in total


def test_inspect_lists_layers_with_shapes():
    result = run_scaffold("inspect", REPO / "blueprints" / "lenet.yaml")
    lines = result.out.splitlines()
    conv1 = next(line for line in lines if line.startswith("conv1"))
    assert "6x28x28" in conv1 and "156" in conv1 and "117,600" in conv1
    assert any("61,706" in line for line in lines)


def test_list_shows_every_bundled_blueprint_with_its_description():
    result = run_scaffold("list")
    assert result.code == 0
    for path in BLUEPRINTS:
        line = next(line for line in result.out.splitlines() if line.startswith(path.stem + " "))
        assert len(line.split(None, 1)[1]) > 20


def test_a_reader_that_stops_early_gets_no_error():
    """`scaffold list | head -1`: no "internal error", the exit status of a command that SIGPIPE
    stopped. (`true` closes the pipe before scaffold has started, so the write always fails.)"""
    command = f"{sys.executable} -m scaffold list | true; exit ${{PIPESTATUS[0]}}"
    done = subprocess.run(
        ["bash", "-c", command], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert (done.returncode, done.stderr) == (141, "")


def test_validate_and_inspect_do_not_import_torch_or_copier():
    code = (
        "import sys; from scaffold.cli import main\n"
        "sys.argv = ['scaffold', 'inspect', 'blueprints/bcnn_vgg16.yaml']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "assert 'torch' not in sys.modules and 'copier' not in sys.modules, 'heavy import'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_new_uses_the_destination_name_for_the_package(tmp_path):
    result = run_scaffold("new", "--blueprint", "lenet", tmp_path / "My Project-2", "--no-git")
    assert result.code == 0, result.err
    assert (tmp_path / "My Project-2" / "my_project_2" / "model.py").is_file()
    bad = run_scaffold("new", "--blueprint", "lenet", tmp_path / "other", "--name", "import")
    assert bad.code == 2 and "keyword" in bad.err and not (tmp_path / "other").exists()


def test_new_generation_does_not_import_torch(tmp_path):
    code = (
        "import sys; from scaffold.cli import main\n"
        f"sys.argv = ['scaffold', 'new', '--blueprint', 'lenet', {str(tmp_path / 'p')!r}, '--no-git']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "assert 'torch' not in sys.modules, 'generation imported torch'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_new_refuses_a_non_empty_destination(tmp_path):
    dest = tmp_path / "proj"
    dest.mkdir()
    (dest / "notes.txt").write_text("mine")
    result = run_scaffold("new", "--blueprint", "lenet", dest)
    assert result.code == 2 and "--force" in result.err
    assert sorted(p.name for p in dest.iterdir()) == ["notes.txt"]


def test_force_keeps_the_users_files_and_backs_up_what_it_replaces(tmp_path):
    dest = tmp_path / "proj"
    dest.mkdir()
    (dest / "notes.txt").write_text("mine")
    (dest / "README.md").write_text("my readme")
    result = run_scaffold("new", "--blueprint", "lenet", dest, "--force", "--name", "proj")
    assert result.code == 0, result.err
    assert (dest / "notes.txt").read_text() == "mine"
    assert "replaced README.md" in result.out
    backups = list((dest / ".scaffold-backup").rglob("README.md"))
    assert len(backups) == 1 and backups[0].read_text() == "my readme"
    assert (dest / "proj" / "train.py").is_file()
    help_text = run_scaffold("new", "--help").out
    assert "backed up" in help_text or ".scaffold-backup" in help_text


def test_new_inside_a_git_repository_makes_no_nested_repository(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    result = run_scaffold("new", "--blueprint", "lenet", tmp_path / "proj")
    assert result.code == 0, result.err
    assert not (tmp_path / "proj" / ".git").exists()
    assert "inside the git repository" in result.err


def test_new_commits_the_project(tmp_path):
    result = run_scaffold("new", "--blueprint", "lenet", tmp_path / "proj")
    assert result.code == 0, result.err
    log = subprocess.run(
        ["git", "-C", str(tmp_path / "proj"), "log", "--oneline"], capture_output=True, text=True
    )
    assert len(log.stdout.splitlines()) == 1
    status = subprocess.run(
        ["git", "-C", str(tmp_path / "proj"), "status", "--porcelain"],
        capture_output=True,
        text=True,
    )
    assert status.stdout == ""


@pytest.mark.parametrize("delay", [0.3, 0.6, 0.9, 1.2, 1.6])
def test_killed_generation_leaves_no_destination_or_a_complete_one(
    tmp_path, tmp_path_factory, delay
):
    """SIGKILL at some moment: DEST is absent or complete; at most a hidden staging folder remains,
    and no process of the run (an empty black cache: the formatter workers run)."""
    dest = tmp_path / "proj"
    tag = new_tag()
    process = subprocess.Popen(
        [sys.executable, "-m", "scaffold", "new", "--blueprint", "bcnn_vgg16", str(dest)],
        env=tagged_env(tag, tmp_path_factory.mktemp("cache")),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(delay)
    process.send_signal(signal.SIGKILL)
    process.wait()
    if HAVE_PROC:
        assert not reap([tag], within=5.0), "processes alive 5 s after SIGKILL (now killed)"
    if dest.exists():
        expected = {
            "README.md",
            "pyproject.toml",
            ".copier-answers.yml",
            "configs",
            "proj",
            "tests",
            "scripts",
        }
        assert expected <= {p.name for p in dest.iterdir()}
        assert (dest / "proj" / "train.py").stat().st_size > 1000
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "proj"]
    assert all(name.startswith(".proj.scaffold-") for name in leftovers)
    if not dest.exists():  # the next run cleans up what the killed one left behind
        assert run_scaffold("new", "--blueprint", "lenet", dest, "--no-git").code == 0
        assert [p.name for p in tmp_path.iterdir()] == ["proj"]


@pytest.mark.parametrize("delay", [0.15, 0.3, 0.45])
def test_interrupted_generation_cleans_up(tmp_path, delay):
    """Ctrl-C (SIGINT) or SIGTERM: DEST absent or complete, no staging folder and no process left
    behind (an empty black cache: the formatter workers run)."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        dest = tmp_path / f"proj{int(sig)}"
        tag = new_tag()
        process = subprocess.Popen(
            [sys.executable, "-m", "scaffold", "new", "--blueprint", "bcnn_vgg16", str(dest)],
            env=tagged_env(tag, tmp_path / f"cache{int(sig)}"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(delay)
        process.send_signal(sig)
        _, err = process.communicate(timeout=60)
        if dest.exists():  # it got to the end first: then it is complete
            assert (dest / "pyproject.toml").is_file()
            assert (dest / dest.name / "train.py").is_file()
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(f".{dest.name}.scaffold-")]
        # (on a loaded machine the signal may come while Python itself starts, before any code
        # of scaffold's runs: Python then prints its own "Could not import runpy module")
        if "Could not import runpy module" not in err:
            assert "Traceback" not in err
        if HAVE_PROC:
            assert not reap([tag], within=0), "processes left after `new` exited (now killed)"


def test_blueprint_by_bundled_name_and_missing_file(tmp_path):
    assert run_scaffold("validate", "lenet").out.strip() == "ok"
    missing = run_scaffold("validate", tmp_path / "nope.yaml")
    assert missing.code == 2 and "no such file" in missing.err and "Traceback" not in missing.err


def test_bundled_blueprints_directory_is_what_list_shows():
    names = {p.stem for p in Path(REPO / "blueprints").glob("*.yaml")}
    listed = {line.split()[0] for line in run_scaffold("list").out.splitlines() if line.strip()}
    assert names == listed


def test_smoke_prints_one_line_per_blueprint_and_fails_on_a_broken_one(write_blueprint):
    """Also lenet's end-to-end smoke (see test_generated_projects): a minute on 2 cores."""
    broken = write_blueprint(
        "name: broken\ninput: {channels: 1, height: 8, width: 8}\nmodel:\n  layers: [conv: 4, linear: classes]\n"
        "train: {epochs: 1}\n"
    )
    result = run_scaffold("smoke", REPO / "blueprints" / "lenet.yaml", broken)
    assert result.code == 1, result.err
    lines = result.out.splitlines()
    assert any(
        line.startswith("lenet") and line.rstrip().endswith("ok") for line in lines
    ), result.out
    failed = next(line for line in lines if line.startswith("bp"))
    assert (
        "FAIL" in failed
        and "bp.yaml:4:21: model.layers[1] (linear): linear needs a flat input" in failed
    )
    assert "1 of 2 blueprints passed" in result.out
