"""Blueprint values can never become code.

Hostile values (quotes, newlines, backslashes, triple quotes, a Python call, Jinja syntax, very
long and non-ASCII text) go into every field that reaches the generated project. A field that
becomes a Python identifier must refuse them with a located message; a field that is data
(description, class names, data root) must come out as data only: the Python files parse and are
black-formatted, the value sits only inside string literals and comments, Jinja syntax is not
evaluated, and importing every generated module does nothing (no PWNED file appears).

The projects are generated once per session (shared by the xdist workers, under a file lock),
and all of them are imported in a single subprocess.
"""

from __future__ import annotations

import ast
import io
import json
import os
import re
import subprocess
import sys
import textwrap
import tokenize
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from filelock import FileLock  # installed with torch

REPO = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}

VALUES = {
    "quotes": "a \"double\" and 'single' quote",
    "newlines": "first line\nsecond line\r\nthird",
    "backslashes": "C:\\new\\table\\ and a trailing \\",
    "triple-double-quotes": 'ends """ here',
    "triple-single-quotes": "ends ''' here",
    "python-call": "__import__('os').system('touch PWNED')",
    "string-breakout": "\"); __import__('os').system('touch PWNED'); (\"",
    "docstring-breakout": '"""; __import__("os").system("touch PWNED"); """',
    "comment-breakout": "x\nimport os; os.system('touch PWNED')  #",
    "jinja-expression": "{{ 7*7 }}",
    "jinja-raw": "{% raw %}{{ 7*7 }}{% endraw %}",
    "jinja-for": "{% for x in range(3) %}{{ x }}{% endfor %}",
    "non-ascii": "é 中文 🎉",
    "very-long": "x" * 10_000,
}
LIMITS = {"description": 500, "classes": 200, "root": 4096}  # longer values are refused

# Each value is wrapped in these markers: if the value were pasted into code, a NAME or OP token
# would carry them; as data, only STRING and COMMENT tokens do.
START, END = "ZQX", "XQZ"

TEMPLATE = """\
name: {name}
description: {description}
input: {{channels: 3, height: 8, width: 8}}
model:
  class_name: {class_name}
  layers:
    - conv: {{out: 4, name: {layer}}}
    - flatten
    - linear: classes
data:
  classes: [{cls}, plain]
  root: {root}
train:
  phases:
    - name: {phase}
      epochs: 1
"""
DEFAULTS = {
    "name": "inj",
    "description": "plain",
    "class_name": "Net",
    "layer": "body",
    "cls": "a",
    "root": "/data",
    "phase": "warmup",
}
# field of TEMPLATE: (line, field path in the message)
IDENTIFIER_FIELDS = {
    "name": (1, "name"),
    "class_name": (5, "model.class_name"),
    "layer": (7, "model.layers[0] (conv).name"),
    "phase": (15, "train.phases[0].name"),
}
DATA_FIELDS = {
    "description": (2, "description"),
    "cls": (11, "data.classes[0]"),
    "root": (12, "data.root"),
}


def blueprint_text(**values: str) -> str:
    """TEMPLATE with the given fields; every value as a double-quoted YAML (JSON) string."""
    fields = {**DEFAULTS, **values}
    return TEMPLATE.format(**{k: json.dumps(v, ensure_ascii=False) for k, v in fields.items()})


def scaffold(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "scaffold", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env=ENV,
    )


def shared_dir(tmp_path_factory, worker_id: str, name: str) -> Path:
    """A folder all xdist workers of this run share (the run's own temp folder without xdist)."""
    base = tmp_path_factory.getbasetemp()
    return (base if worker_id == "master" else base.parent) / name


# --- values in identifier fields are refused ----------------------------------------------------

REFUSALS = [
    pytest.param(field, value_id, id=f"{field}-{value_id}")
    for field in IDENTIFIER_FIELDS
    for value_id in VALUES
] + [pytest.param(field, "very-long", id=f"{field}-very-long") for field in DATA_FIELDS]


@pytest.fixture(scope="module")
def validation(tmp_path_factory):
    """`scaffold validate` once over a file per refused case: {file: its lines of output}."""
    folder = tmp_path_factory.mktemp("refused")
    files = []
    for param in REFUSALS:
        field, value_id = param.values
        name = f"{param.id}.yaml"
        (folder / name).write_text(blueprint_text(**{field: VALUES[value_id]}), encoding="utf-8")
        files.append(name)
    done = scaffold("validate", *files, cwd=folder)
    blocks: dict[str, list[str]] = {}
    current = None
    for line in done.stderr.splitlines():
        match = re.match(r"^([\w.-]+\.yaml):", line)
        if match:
            current = match.group(1)
        blocks.setdefault(current, []).append(line)
    return done, blocks


@pytest.mark.parametrize("field, value_id", REFUSALS)
def test_value_is_refused_with_a_located_message(validation, request, field, value_id):
    done, blocks = validation
    name = f"{request.node.callspec.id}.yaml"
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert f"{name}: ok" not in done.stdout
    line, path = {**IDENTIFIER_FIELDS, **DATA_FIELDS}[field]
    lines = blocks.get(name)
    assert lines, f"{name} was not refused:\n{done.stderr}"
    prefix = f"{name}:{line}:"
    assert lines[0].startswith(prefix), lines[0]
    message = lines[0].split(": ", 1)[1]
    assert message.startswith(f"{path}: "), lines[0]
    reason = message[len(path) + 2 :]
    assert re.fullmatch(
        r"expected .*, got the text .*|is \d+ characters long; at most \d+ are allowed", reason
    ), lines[0]
    for extra in lines[1:]:
        assert extra.startswith("  hint: ") or extra.startswith(f"{name}:"), extra


# --- values in data fields stay data -------------------------------------------------------------

ACCEPTED = [
    value_id for value_id, value in VALUES.items() if len(value) + 6 <= min(LIMITS.values())
]
# A few values share a project (each in the description and the data root, joined, and each a
# class name of its own): fewer projects to render, black-check and import.
GROUPS = {f"inj_{i // 4 + 1}": ACCEPTED[i : i + 4] for i in range(0, len(ACCEPTED), 4)}
PROJECT = {value_id: dest for dest, value_ids in GROUPS.items() for value_id in value_ids}


def wrapped(value_id: str) -> str:
    return START + VALUES[value_id] + END


def group_blueprint(value_ids: list[str]) -> str:
    values = [wrapped(v) for v in value_ids]
    text = blueprint_text(description=" ~ ".join(values), root=" ~ ".join(values))
    classes = ", ".join(json.dumps(v, ensure_ascii=False) for v in values)
    return text.replace('classes: ["a", plain]', f"classes: [{classes}, plain]")


IMPORT_SCRIPT = """
import importlib, json, sys, traceback
results = {}
for folder, package, modules in json.loads(sys.argv[1]):
    sys.path.insert(0, folder)
    for module in modules:
        name = package if module == "__init__" else f"{package}.{module}"
        try:
            importlib.import_module(name)
            results[name] = ""
        except BaseException:
            results[name] = traceback.format_exc()
print("RESULTS " + json.dumps(results))
"""


def _generate(root: Path) -> dict:
    """Generate every project, black-check each, import all of them in one subprocess."""
    root.mkdir(parents=True, exist_ok=True)
    for dest, value_ids in GROUPS.items():
        (root / f"{dest}.yaml").write_text(group_blueprint(value_ids), encoding="utf-8")

    def new(dest: str):
        return scaffold("new", "--blueprint", f"{dest}.yaml", dest, "--no-git", cwd=root)

    def black(dest: str):
        return subprocess.run(
            [sys.executable, "-m", "black", "--check", "."],
            cwd=root / dest,
            capture_output=True,
            text=True,
        )

    with ThreadPoolExecutor(max_workers=2) as pool:
        made = dict(zip(GROUPS, pool.map(new, GROUPS)))
        built = [dest for dest, done in made.items() if done.returncode == 0]
        blacked = dict(zip(built, pool.map(black, built)))

    cwd = root / "import-cwd"
    cwd.mkdir()
    before = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
    targets = [
        [str(root / dest), dest, sorted(p.stem for p in (root / dest / dest).glob("*.py"))]
        for dest in built
    ]
    imported = subprocess.run(
        [sys.executable, "-c", IMPORT_SCRIPT, json.dumps(targets)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    after = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
    output = imported.stdout.rsplit("RESULTS ", 1)
    return {
        "new": {d: [r.returncode, r.stdout, r.stderr] for d, r in made.items()},
        "black": {d: [r.returncode, r.stdout + r.stderr] for d, r in blacked.items()},
        "imports": json.loads(output[1]) if len(output) == 2 else {},
        "import_output": [imported.returncode, output[0], imported.stderr],
        "new_files": sorted(set(after) - set(before)),
    }


@pytest.fixture(scope="session")
def generated(tmp_path_factory, worker_id):
    """(root, results): every project under root, generated once for all xdist workers."""
    root = shared_dir(tmp_path_factory, worker_id, "injection")
    root.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(root) + ".lock"):
        results_file = root / "results.json"
        if not results_file.exists():
            results = _generate(root)
            results_file.write_text(json.dumps(results), encoding="utf-8")
        results = json.loads(results_file.read_text(encoding="utf-8"))
    return root, results


def python_files(project: Path) -> list[Path]:
    return sorted(p for p in project.rglob("*.py") if "__pycache__" not in p.parts)


def strings_in(source: str) -> list[str]:
    """The values of every string literal in a Python source."""
    found = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.STRING and not re.match(r"^[rRbB]*[fF]", token.string):
            found.append(ast.literal_eval(token.string))
    return found


@pytest.mark.parametrize("value_id", ACCEPTED)
def test_value_in_data_fields_stays_data(generated, value_id):
    root, results = generated
    dest = PROJECT[value_id]
    value = wrapped(value_id)
    one_line = " ".join(value.split())  # docstrings, comments and TOML get one line
    code, out, err = results["new"][dest]
    assert code == 0, err
    assert "Traceback" not in err
    project = root / dest

    for path in python_files(project):
        source = path.read_text(encoding="utf-8")
        ast.parse(source, str(path))
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if START in token.string or END in token.string:
                assert token.type in (tokenize.STRING, tokenize.COMMENT), (path, token)
        # the Jinja syntax in the value was not evaluated
        assert f"{START}49{END}" not in source
        assert f"{START}012{END}" not in source

    model_strings = strings_in((project / dest / "model.py").read_text(encoding="utf-8"))
    # the class docstring wraps the description at 100 columns
    assert any(one_line in " ".join(s.split()) for s in model_strings), "description missing"
    # the blueprint's class names document the data, whose own names win: no code prints them
    assert all(value not in s for s in strings_in((project / dest / "data.py").read_text()))

    pyproject = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    assert one_line in pyproject["project"]["description"]
    config = yaml.safe_load((project / "configs" / "default.yaml").read_text(encoding="utf-8"))
    assert value in config["data"]["root"].split(" ~ ")
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text(encoding="utf-8"))
    assert value in answers["blueprint"]["description"].split(" ~ ")
    assert value in answers["blueprint"]["data"]["classes"]
    assert value in answers["blueprint"]["data"]["root"].split(" ~ ")
    readme = (project / "README.md").read_text(encoding="utf-8")
    assert one_line.split("\n")[0][:20] in readme and f"{START}49{END}" not in readme

    black_code, black_output = results["black"][dest]
    assert black_code == 0, black_output


@pytest.mark.parametrize("value_id", ACCEPTED)
def test_importing_the_generated_modules_has_no_side_effect(generated, value_id):
    root, results = generated
    dest = PROJECT[value_id]
    modules = {
        name: error for name, error in results["imports"].items() if name.split(".")[0] == dest
    }
    assert f"{dest}.model" in modules and f"{dest}.data" in modules, results["import_output"]
    for name, error in modules.items():
        assert not error, f"{name}:\n{error}"


def test_nothing_was_created_by_the_imports(generated):
    root, results = generated
    assert results["new_files"] == []
    code, stdout, stderr = results["import_output"]
    assert code == 0, stderr
    assert stdout.strip() == ""  # importing printed nothing
    assert not list(root.rglob("PWNED"))
    assert not (Path.cwd() / "PWNED").exists()
    assert not (REPO / "PWNED").exists()


def test_a_derived_class_name_does_not_collide_with_generated_names():
    from jinja2 import Environment, FileSystemLoader

    from scaffold.blueprint import blueprint_from_data
    from scaffold.errors import BlueprintError
    from scaffold.jinja_ext import ScaffoldContext, ScaffoldExtension
    from scaffold.plan import build_plan

    blueprint = yaml.safe_load(blueprint_text(name="run").replace('  class_name: "Net"\n', ""))
    try:
        build_plan(blueprint_from_data(blueprint))
    except BlueprintError:
        return  # refusing the name is fine too
    environment = Environment(
        # the template's files, and the partials they import by their path in the repository
        loader=FileSystemLoader([str(REPO / "templates"), str(REPO)]),
        extensions=[ScaffoldExtension, ScaffoldContext],
    )
    template = environment.get_template("{{ package_name }}/train.py.jinja")
    train = template.render(blueprint=blueprint, package_name="proj", _copier_conf={})
    imported = re.search(r"^from \.model import (\w+)", train, re.M).group(1)
    bound = set()
    for node in ast.parse(train).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.Import):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module != "model":
            bound.update(a.asname or a.name for a in node.names)
        elif isinstance(node, ast.Assign):
            bound.update(t.id for t in node.targets if isinstance(t, ast.Name))
    assert imported not in bound


def test_the_blueprint_file_itself_is_never_executed(tmp_path):
    """YAML tags that would construct Python objects are refused, not run."""
    text = textwrap.dedent("""
        name: !!python/object/apply:os.system ["touch PWNED"]
        input: {channels: 1, height: 8, width: 8}
        model:
          layers: [flatten, linear: classes]
        train: {epochs: 1}
        """).lstrip()
    (tmp_path / "bp.yaml").write_text(text, encoding="utf-8")
    done = scaffold("new", "--blueprint", "bp.yaml", "out", "--no-git", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("bp.yaml:1:7: name: unsupported YAML tag"), done.stderr
    assert "Traceback" not in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bp.yaml"]
