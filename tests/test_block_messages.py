"""Messages about a blueprint's own blocks: `max(...)` with a comma inside a YAML flow mapping
(YAML ends the value at the comma; the error says to quote it, as the README does), and a refused
definition, reported once where it is defined and not again at each use."""

from __future__ import annotations

import textwrap

from conftest import run_scaffold

BLUEPRINT = """
    name: quoted
    input: {channels: 3, height: 8, width: 8}
    blocks:
      wide:
        params: {out: ~}
        layers: [conv: {out: OUT, padding: 1}, relu]
    model:
      layers: [wide: 4, flatten, linear: classes]
    data: {classes: 2}
    train: {epochs: 1}
    """


def test_an_unquoted_expression_with_a_comma_says_to_quote_it(tmp_path):
    path = tmp_path / "bp.yaml"
    path.write_text(textwrap.dedent(BLUEPRINT.replace("OUT", "$max(out, 8)")), encoding="utf-8")
    refused = run_scaffold("validate", path)
    assert refused.code == 2 and "Traceback" not in refused.err
    assert f"{path}:7:26: blocks.wide: '$max(out' is not an expression: inside {{...}} a comma" in (
        refused.out + refused.err
    )
    assert 'quote an expression with a comma ("$max(a, b)")' in refused.out + refused.err
    path.write_text(textwrap.dedent(BLUEPRINT.replace("OUT", '"$max(out, 8)"')), encoding="utf-8")
    assert run_scaffold("validate", path).out.strip() == "ok"


def test_a_refused_definition_is_reported_once_not_at_each_use(tmp_path):
    path = tmp_path / "bp.yaml"
    text = BLUEPRINT.replace("OUT", "$out").replace(
        "params: {out: ~}", "class: Run\n        params: {out: ~}"
    )
    text = text.replace("[wide: 4, flatten", "[wide: 4, wide: 8, {wide: {out: 2}}, flatten")
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    refused = run_scaffold("validate", path)
    assert refused.code == 2 and "Traceback" not in refused.err
    assert refused.out + refused.err == (
        f"{path}:6:12: blocks.wide.class: 'Run' is a name the generated code uses already\n"
        "  hint: e.g. `class: BasicBlock`\n"
    )
