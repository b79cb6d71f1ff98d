"""Export: `python -m PKG.export` writes a trained checkpoint as an ONNX file and/or a
torch.export program, its batch size free (the blueprint's top-level `export`). Its code is its
own files, PKG/export.py and tests/test_export.py, and its partial,
templates/_partials/features/export.py.jinja (the README's lines); ONNX's packages are the
`export` extra of pyproject.toml (the tests' extra too)."""

from __future__ import annotations

from ..spec import Bool, Enum, ListOf, OneOf, spec_field
from . import Feature

# every format, in the order a project lists them; the suffix of each one's file
FORMATS = {"onnx": ".onnx", "torch_export": ".pt2"}


def resolve(export: bool | list[str], where, path: str) -> list[str]:
    """`true`: every format; false: none; a list: each format once, in FORMATS' order."""
    formats = list(FORMATS) if export is True else export or []
    return [f for f in FORMATS if f in formats]


class Export(Feature):
    name = "export"
    order = 1000
    blueprint_fields = {
        "export": spec_field(
            OneOf(Bool(), ListOf(Enum(*FORMATS), min_items=1), what="true, false or formats"),
            [],
            "python -m PKG.export writes the trained model as ONNX and/or torch.export files: "
            "true (both), or a list of onnx, torch_export",
            resolve=resolve,
            annotation=list[str],
        )
    }
    readme_part = "data"

    def on_blueprint(self, bp) -> bool:
        return bool(bp.export)

    def values(self, project) -> dict:
        formats = project.blueprint.export
        return {"formats": formats, "suffixes": {f: FORMATS[f] for f in formats}}

    def extras(self, project) -> dict[str, list[str]]:
        onnx = "onnx" in project.blueprint.export
        return {"export": ["onnx>=1.16", "onnxruntime>=1.18"]} if onnx else {}

    def readme(self, project) -> str:
        formats = project.blueprint.export
        written = {
            "onnx": "an ONNX file (best.onnx)",
            "torch_export": "a torch.export program (best.pt2)",
        }
        return (
            f"**Export**: `python -m {project.package}.export --checkpoint runs/{project.name}/best.pt"
            f" --format {'|'.join(formats)}` writes {' or '.join(written[f] for f in formats)} "
            "next to the checkpoint, its batch size free."
            + (
                " tests/test_export.py runs the ONNX file in onnxruntime and compares its"
                ' outputs with PyTorch\'s (`pip install -e ".[export]"` installs onnx and'
                " onnxruntime)."
                if "onnx" in formats
                else ""
            )
        )


UNIT = Export()
