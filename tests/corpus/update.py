"""The corpus of users' blueprints (tests/corpus/blueprints/) and the record of what each means.

A blueprint that validates today keeps validating with the same meaning (issue 26, item 6). What
it means is written down by scaffold itself, in tests/corpus/records/NAME.txt: the layer table
of `scaffold inspect`, any `scaffold validate` notes, and the generated configs/default.yaml and
model.py, rendered in this process as `scaffold new` renders them. tests/test_corpus.py renders
them again and compares.

When a change of meaning is intended, rewrite the records and let the diff show it in review:

    python tests/corpus/update.py            # every blueprint
    python tests/corpus/update.py NAME...    # some of them
"""

from __future__ import annotations

import ast
import sys
import tempfile
from pathlib import Path

CORPUS = Path(__file__).resolve().parent
REPOSITORY = CORPUS.parent.parent
BLUEPRINTS = CORPUS / "blueprints"
RECORDS = CORPUS / "records"
# what a record holds of the generated project (the package is named after the blueprint's file)
FILES = ("configs/default.yaml", "{package}/model.py")
DATA = "{package}/data.py"  # its module constants and build_transforms

if str(REPOSITORY) not in sys.path:  # run as a script from anywhere: this checkout's scaffold
    sys.path.insert(0, str(REPOSITORY))


def blueprints() -> list[Path]:
    return sorted(BLUEPRINTS.glob("*.yaml"))


def record(path: Path) -> str:
    """What the blueprint at `path` means, as one text: inspect's table, validate's notes, and
    the generated files that say what the model is and how it trains."""
    from scaffold.advice import advice
    from scaffold.blueprint import load_blueprint
    from scaffold.engine import running
    from scaffold.jinja_ext import remember
    from scaffold.local_template import render_local
    from scaffold.plan import build_plan
    from scaffold.project import Project
    from scaffold.report import inspect_table

    blueprint = load_blueprint(path)
    plan = build_plan(blueprint)
    package = path.stem
    remember(Project(package, blueprint, plan))  # rendered from this read, as `scaffold new`
    files = [name.format(package=package) for name in FILES]
    data_file = DATA.format(package=package)
    sections = [("scaffold inspect", inspect_table(blueprint, plan))]
    notes = [f"note: {note}".replace(str(path), path.name) for note in advice(blueprint)]
    sections.append(("scaffold validate", "\n".join(["ok", *notes])))
    with tempfile.TemporaryDirectory(prefix="scaffold-corpus-") as tmp:
        data = {"package_name": package, "blueprint": blueprint.raw}
        engine = running(REPOSITORY)
        only = frozenset([*files, data_file])
        render_local(REPOSITORY, Path(tmp), data, "corpus", False, engine, only)
        for name in files:
            sections.append((name, (Path(tmp) / name).read_text(encoding="utf-8")))
        source = (Path(tmp) / data_file).read_text(encoding="utf-8")
        sections.append((f"{data_file}: constants, build_transforms", data_meaning(source)))
    return "".join(f"=== {title}\n{text.rstrip()}\n" for title, text in sections)


def data_meaning(source: str) -> str:
    """What data.py takes from the blueprint: its module constants (image size, channels,
    normalisation, classes) and its transforms."""
    parts = []
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and all(
            isinstance(target, (ast.Name, ast.Tuple)) and ast.unparse(target).isupper()
            for target in node.targets
        ):
            parts.append(ast.get_source_segment(source, node))
        elif isinstance(node, ast.FunctionDef) and node.name == "build_transforms":
            parts.append(ast.get_source_segment(source, node))
    return "\n".join(parts)


def record_path(path: Path) -> Path:
    return RECORDS / f"{path.stem}.txt"


def main(names: list[str]) -> int:
    from scaffold.errors import BlueprintError

    chosen = [BLUEPRINTS / f"{name}.yaml" for name in names] if names else blueprints()
    for path in chosen:
        target = record_path(path)
        try:
            text = record(path)
        except BlueprintError as error:  # a user's blueprint that no longer validates: a bug
            print(f"{path.relative_to(REPOSITORY)} does not validate, record kept:\n{error}")
            return 2
        old = target.read_text(encoding="utf-8") if target.is_file() else None
        if old != text:
            target.write_text(text, encoding="utf-8")
        print(f"{target.relative_to(REPOSITORY)}: {'unchanged' if old == text else 'written'}")
    if not names:  # records of blueprints no longer in the corpus
        for stale in sorted(set(RECORDS.glob("*.txt")) - {record_path(p) for p in chosen}):
            stale.unlink()
            print(f"{stale.relative_to(REPOSITORY)}: removed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
