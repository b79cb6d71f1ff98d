"""Each template version renders with its own engine, the `scaffold/` package at its root,
loaded under a name of its own (scaffold/copier_extension.py, scaffold/engine.py): two versions
in one process share no module state, and the command line reads blueprints with the engine of
the template it generates from."""

from __future__ import annotations

import importlib
import shutil
import sys
from pathlib import Path

import pytest
from conftest import REPO, run_scaffold
from template_repos import (
    PKG,
    answers,
    assert_planner_change,
    change_planner,
    commit_user_edits,
    copy_template,
    edit,
    git,
    init_repo,
    template_repo,
)

import scaffold
from scaffold.copier_extension import ENGINE_PREFIX, load_engine
from scaffold.engine import engine_for
from scaffold.errors import BlueprintError, UsageError
from scaffold.local_template import template_config

LENET = REPO / "blueprints" / "lenet.yaml"


def render_model(root: Path, jinja_ext) -> str:
    """The generated model.py of LeNet, rendered from the template at `root` with the extensions
    of an engine's `jinja_ext` (as copier and scaffold render it, less the files' names)."""
    from jinja2 import FileSystemLoader
    from jinja2.sandbox import SandboxedEnvironment

    from scaffold.blueprint import load_blueprint

    env = SandboxedEnvironment(
        loader=FileSystemLoader(str(root)),
        extensions=[jinja_ext.ScaffoldExtension, jinja_ext.ScaffoldContext],
        keep_trailing_newline=True,
    )
    template = env.get_template("templates/{{ package_name }}/model.py.jinja")
    blueprint = load_blueprint(LENET).raw
    return template.render(package_name="pkg", blueprint=blueprint, _copier_conf={})


def engine_modules() -> dict[str, object]:
    return {name: m for name, m in sys.modules.items() if name.startswith(ENGINE_PREFIX)}


def test_two_versions_load_side_by_side_without_sharing_state(tmp_path):
    old_root, new_root = copy_template(tmp_path / "v1"), copy_template(tmp_path / "v2")
    change_planner(new_root)
    old_dir, new_dir = old_root / "scaffold", new_root / "scaffold"
    old, new = load_engine(old_dir), load_engine(new_dir)
    assert old.__name__ != new.__name__
    assert {old.__name__, new.__name__}.isdisjoint({"scaffold", scaffold.__name__})
    old_ext = importlib.import_module(f"{old.__name__}.jinja_ext")
    new_ext = importlib.import_module(f"{new.__name__}.jinja_ext")
    # every module the extension uses is its version's own: nothing shared, not even caches
    assert old_ext.ScaffoldExtension is not new_ext.ScaffoldExtension
    assert old_ext._project is not new_ext._project
    assert Path(old_ext.__file__).parent == old_dir and Path(new_ext.__file__).parent == new_dir
    old_names = {n for n in sys.modules if n.startswith(old.__name__ + ".")}
    new_names = {n for n in sys.modules if n.startswith(new.__name__ + ".")}
    assert old_names and new_names
    for name in old_names:
        assert Path(sys.modules[name].__file__).is_relative_to(old_dir), name
    # what each renders is its own version's, in one process, one after the other and again
    for _ in range(2):
        assert "# (N, 120)" in render_model(old_root, old_ext)
        assert "# (B, 120)" in render_model(new_root, new_ext)
    # loading again gives the same module; a changed file gives a new one
    assert load_engine(old_dir) is old
    edit(old_dir / "__init__.py", "__version__ = ", "__version__ = '9' or ")
    assert load_engine(old_dir).__name__ != old.__name__


def test_copier_update_in_one_process_renders_each_version_with_its_own_engine(
    tmp_path, monkeypatch
):
    """copier renders the old and the new version in this process: the planner change of v2
    arrives (copier issue #1170), and the running scaffold's modules are not touched."""
    import copier

    for key in ("GIT_AUTHOR", "GIT_COMMITTER"):
        monkeypatch.setenv(f"{key}_NAME", "Test User")
        monkeypatch.setenv(f"{key}_EMAIL", "test@example.com")
    template = template_repo(tmp_path / "template")
    result = run_scaffold(
        "new", "--trust", "--blueprint", LENET, "--template", template, tmp_path / PKG
    )
    assert result.code == 0, result.err
    project = tmp_path / PKG
    commit_user_edits(project)
    change_planner(template)
    git(template, "commit", "-q", "-am", "v2: shape comments say B")
    git(template, "tag", "v2")

    running = {name: m for name, m in sys.modules.items() if name.startswith("scaffold.")}
    before = engine_modules()
    copier.run_update(str(project), defaults=True, overwrite=True, unsafe=True, quiet=True)
    assert_planner_change(project)
    assert answers(project)["_commit"] == "v2"
    loaded = {
        Path(m.__file__).parent.parent
        for name, m in engine_modules().items()
        if name not in before and name.count(".") == 0
    }
    assert len(loaded) >= 2  # the old version's clone and the new version's
    assert all(sys.modules[name] is m for name, m in running.items())


def test_engine_of_a_template(tmp_path):
    # this checkout: the running package
    assert not engine_for(REPO, template_config(REPO)).isolated
    # a fork: its own engine, with its root
    fork = copy_template(tmp_path / "fork")
    engine = engine_for(fork, template_config(fork))
    assert engine.isolated and engine.root == fork
    assert Path(engine.package.__file__).parent == fork / "scaffold"
    # the installed scaffold's own repository with the same engine files: the running package
    assert not engine_for(fork, template_config(fork), same_as_running=True).isolated
    change_planner(fork)
    assert engine_for(fork, template_config(fork), same_as_running=True).isolated
    # a version from before engines travelled (a dotted name): the installed package, as copier
    old = {"_jinja_extensions": ["scaffold.jinja_ext.ScaffoldExtension"]}
    assert not engine_for(fork, old).isolated
    # a template whose copier.yml names an engine it does not have
    shutil.rmtree(fork / "scaffold")
    with pytest.raises(UsageError, match="not a Python package"):
        engine_for(fork, template_config(fork))


def test_a_forks_errors_are_scaffolds_errors(tmp_path, write_blueprint):
    fork = copy_template(tmp_path / "fork")
    engine = engine_for(fork, template_config(fork))
    bad = write_blueprint("name: x\nmodel:\n  layers: []\n")
    with pytest.raises(BlueprintError) as raised:  # this package's class, for the command line
        engine.load(bad)
    assert str(raised.value).startswith(str(bad))


@pytest.fixture
def fork(tmp_path) -> Path:
    """A team's template with an engine of its own: another planner, another inspect table,
    and blueprints limited to 100 bytes."""
    root = copy_template(tmp_path / "fork")
    change_planner(root)
    edit(root / "scaffold" / "report.py", '"mult-adds")', '"MACs (fork)")')
    edit(root / "scaffold" / "blueprint.py", "MAX_BLUEPRINT_BYTES = ", "MAX_BLUEPRINT_BYTES = 0 * ")
    return init_repo(root, tag="v1.0.0")


def test_validate_and_inspect_read_blueprints_with_the_templates_engine(fork):
    assert run_scaffold("validate", LENET).code == 0
    refused = run_scaffold("validate", LENET, "--trust", "--template", fork)
    assert refused.code == 2
    assert "a blueprint is at most" in refused.err and "Traceback" not in refused.err
    edit(fork / "scaffold" / "blueprint.py", "MAX_BLUEPRINT_BYTES = 0 * ", "MAX_BLUEPRINT_BYTES = ")
    git(fork, "commit", "-q", "-am", "v1.1.0: any size")
    git(fork, "tag", "v1.1.0")
    assert run_scaffold("validate", LENET, "--trust", "--template", fork).code == 0
    older = run_scaffold("validate", LENET, "--trust", "--template", fork, "--vcs-ref", "v1.0.0")
    assert older.code == 2 and "a blueprint is at most" in older.err
    inspect = run_scaffold("inspect", "lenet", "--trust", "--template", fork)
    assert inspect.code == 0, inspect.err
    assert "MACs (fork)" in inspect.out and "mult-adds" not in inspect.out


def test_new_from_a_fork_by_path_and_by_url_uses_its_engine(fork, tmp_path):
    refused = run_scaffold(
        "new", "--trust", "--blueprint", LENET, "--template", fork, tmp_path / "no"
    )
    assert refused.code == 2 and "a blueprint is at most" in refused.err
    assert not (tmp_path / "no").exists()
    edit(fork / "scaffold" / "blueprint.py", "MAX_BLUEPRINT_BYTES = 0 * ", "MAX_BLUEPRINT_BYTES = ")
    git(fork, "commit", "-q", "-am", "v1.1.0: any size")
    git(fork, "tag", "v1.1.0")

    by_path = tmp_path / "by-path"
    result = run_scaffold(
        "new", "--trust", "--blueprint", LENET, "--template", fork, by_path, "--name", PKG
    )
    assert result.code == 0, result.err
    assert_planner_change(by_path)
    assert answers(by_path)["_commit"] == "v1.1.0"

    url = "git+" + fork.as_uri()  # copier's way to name a git repository by a file:// URL
    by_url = tmp_path / "by-url"
    result = run_scaffold(
        "new", "--trust", "--blueprint", LENET, "--template", url, by_url, "--name", PKG
    )
    assert result.code == 0, result.err
    assert_planner_change(by_url)
    recorded = answers(by_url)
    assert recorded["_src_path"] == url and recorded["_commit"] == "v1.1.0"
    for path in sorted(p for p in by_path.rglob("*") if p.is_file() and ".git" not in p.parts):
        name = path.relative_to(by_path)
        if name.name != ".copier-answers.yml":
            assert path.read_bytes() == (by_url / name).read_bytes(), name

    # the team's next version, by URL: its engine change arrives in the project
    edit(fork / "scaffold" / "report.py", '"MACs (fork)")', '"MACs (fork v1.2)")')
    edit(fork / "templates" / "README.md.jinja", "## Install\n", "## Install (team v1.2)\n")
    git(fork, "commit", "-q", "-am", "v1.2.0")
    git(fork, "tag", "v1.2.0")
    update = run_scaffold("update", "--trust", by_url)
    assert update.code == 0, update.out + update.err
    assert answers(by_url)["_commit"] == "v1.2.0"
    assert "## Install (team v1.2)" in (by_url / "README.md").read_text(encoding="utf-8")
    assert_planner_change(by_url)
