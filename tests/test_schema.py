"""`scaffold schema`: a valid JSON Schema that accepts every bundled blueprint, committed up to date
for editors (schema/blueprint.schema.json, referenced by the blueprints' first line)."""

from __future__ import annotations

import json
import subprocess
import sys

import jsonschema
import pytest
import yaml
from conftest import BLUEPRINTS, REPO, run_scaffold

from scaffold.schema import schema_json


def test_schema_is_valid_and_accepts_every_bundled_blueprint():
    schema = json.loads(schema_json())
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for path in BLUEPRINTS:
        errors = [e.message for e in validator.iter_errors(yaml.safe_load(path.read_text()))]
        assert not errors, f"{path.name}: {errors[:3]}"


@pytest.mark.parametrize(
    "blueprint",
    [
        {
            "name": "x",
            "input": {"channels": 1, "height": 8, "width": 8},
            "model": {"layers": ["rleu"]},
        },
        {
            "name": "x",
            "input": {"channels": 1, "height": 8, "width": 8},
            "model": {"layers": [{"conv": {"outt": 3}}]},
        },
        {"name": "x", "inputs": {}, "model": {}},
    ],
)
def test_schema_rejects_what_scaffold_rejects(blueprint):
    validator = jsonschema.Draft202012Validator(json.loads(schema_json()))
    assert list(validator.iter_errors(blueprint))


def test_committed_schema_is_current():
    committed = (REPO / "schema" / "blueprint.schema.json").read_text()
    assert committed == schema_json(), "regenerate: scaffold schema -o schema/blueprint.schema.json"


def test_the_schema_does_not_depend_on_which_unit_was_imported_first():
    # CI's run imported one unit (sequential) before anything listed the kinds, and the other
    # words for the kinds came out in import order instead of the files' order
    script = (
        "import sys, scaffold.blocks.sequential\n"
        "from scaffold.layers import LAYERS\n"
        "list(LAYERS)\n"
        "from scaffold.schema import schema_json\n"
        "sys.stdout.write(schema_json())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=REPO
    ).stdout
    assert out == (REPO / "schema" / "blueprint.schema.json").read_text()


def test_schema_command_prints_it():
    result = run_scaffold("schema")
    assert result.code == 0 and json.loads(result.out)["title"] == "scaffold blueprint"
