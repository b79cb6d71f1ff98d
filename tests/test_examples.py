"""examples/ holds a generated project per bundled blueprint, for readers; they must stay what the
blueprints and the current template give (`scaffold check`, as CI runs it)."""

from __future__ import annotations

import pytest
from conftest import BLUEPRINTS, REPO, run_scaffold

NAMES = [path.stem for path in BLUEPRINTS]


def test_every_bundled_blueprint_has_an_example():
    examples = {
        p.name for p in (REPO / "examples").iterdir() if (p / ".copier-answers.yml").is_file()
    }
    assert examples == set(NAMES), "run examples/regenerate.sh"


@pytest.mark.parametrize("name", NAMES)
def test_example_is_current(name):
    result = run_scaffold("check", REPO / "examples" / name, "--template", REPO)
    assert result.code == 0, result.out[-3000:] + result.err + "\nrun examples/regenerate.sh"
