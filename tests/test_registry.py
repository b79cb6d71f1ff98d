"""The registry owns its table of block kinds (scaffold/blocks/registry.py's BUILTIN): the table and
what the unit modules register agree exactly, a unit whose kind the table lacks is refused with
the line to add, and blocks/base.py keeps no registry state of its own."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys

import pytest
from conftest import REPO

from scaffold.blocks import base, registry
from scaffold.blocks.registry import BUILTIN, NOT_UNITS, REGISTRY, Registry, UnitError, table_line

BLOCKS = REPO / "scaffold" / "blocks"
UNIT_MODULES = sorted(p.stem for p in BLOCKS.glob("*.py") if p.stem not in NOT_UNITS)


def test_the_table_and_the_unit_modules_agree_exactly():
    """Import every module of scaffold/blocks that is not listed as no unit: each registers only
    kinds the table lists for it (else its import fails with the line to add), each defines some
    kind, and every kind of the table is registered by its module."""
    for name in UNIT_MODULES:
        try:
            importlib.import_module(f"scaffold.blocks.{name}")
        except UnitError as error:
            pytest.fail(f"scaffold/blocks/{name}.py: {error}")
    registered = {
        kind: cls.__module__.rpartition(".")[2]
        for kind, cls in REGISTRY.classes.items()
        if kind in REGISTRY.modules  # not a team's kind another test loaded
    }
    for kind, module, aliases in BUILTIN:
        assert registered.get(kind) == module, (
            f"registry.py's table has {table_line(kind, module, aliases)} but "
            f"scaffold/blocks/{module}.py registers no `@unit({kind!r}, ...)`: remove the line, "
            "or correct it"
        )
    for name in UNIT_MODULES:
        assert name in registered.values(), (
            f"scaffold/blocks/{name}.py defines no kind: add its `@unit` kinds to registry.py's "
            "BUILTIN, or its name to NOT_UNITS if it is a helper module"
        )
    words = [kind for kind, _, _ in BUILTIN] + [a for _, _, aliases in BUILTIN for a in aliases]
    assert len(words) == len(set(words)), "a word is in the table twice"
    assert sorted(dict.fromkeys(m for _, m, _ in BUILTIN)) == list(
        dict.fromkeys(m for _, m, _ in BUILTIN)
    ), "the table is in the order of its modules' names"


def test_a_unit_the_table_lacks_is_refused_with_the_line_to_add():
    fresh = Registry(BUILTIN)

    class Cbam:  # as a new unit file's class would be: scaffold/blocks/cbam.py
        __module__ = "scaffold.blocks.cbam"

    with pytest.raises(UnitError) as caught:
        fresh.register("cbam", ("cbam2",), Cbam, "scaffold/blocks/cbam.py")
    message = str(caught.value)
    assert message.startswith("scaffold/blocks/cbam.py: the block kind 'cbam' is not in")
    assert message.endswith('\n    ("cbam", "cbam", ("cbam2",)),')
    assert "cbam" not in fresh.classes

    class Relu:  # a kind of the table, registered by another module or with other words
        __module__ = "scaffold.blocks.cbam"

    with pytest.raises(UnitError, match=re.escape('("relu", "cbam", ()),')):
        fresh.register("relu", (), Relu, "scaffold/blocks/cbam.py")
    Relu.__module__ = "scaffold.blocks.activation"
    with pytest.raises(UnitError, match=re.escape('("silu", "activation", ("swish", "swish2")),')):
        fresh.register("silu", ("swish", "swish2"), Relu, "scaffold/blocks/activation.py")
    fresh.register("relu", (), Relu, "scaffold/blocks/activation.py")
    with pytest.raises(UnitError, match="'relu' is already defined by scaffold/blocks/act"):
        fresh.register("relu", (), Relu, "scaffold/blocks/other.py")


def test_base_keeps_no_registry_state_and_reexports_what_units_import():
    for name in ("LAYERS", "ALIASES", "ORIGIN"):
        assert not hasattr(base, name)
    assert base.UnitError is UnitError and base.unit and base.Layer
    assert registry.aliases()["fc"] == "linear" and registry.aliases()["se"] == (
        "squeeze_excitation"
    )


def test_the_table_is_known_before_any_unit_is_imported():
    """The words and the order of the kinds come from the table, whatever is imported first;
    looking one kind up imports its module only."""
    script = (
        "import sys\n"
        "from scaffold.blocks.registry import REGISTRY, aliases\n"
        "words = list(aliases())\n"
        "def units():\n"
        "    names = [m.rsplit('.', 1)[1] for m in sys.modules if m.startswith('scaffold.blocks.')]\n"
        "    return sorted(n for n in names if n != 'registry')\n"
        "before = units()\n"
        "assert 'fc' in REGISTRY.builtin_words() and units() == before, units()\n"
        "assert REGISTRY['linear'].KIND == 'linear'\n"
        "print(before, units(), words == list(aliases()), list(REGISTRY)[:3])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[] ['base', 'emit', 'linear'] True ['relu', 'relu6', 'elu']"
