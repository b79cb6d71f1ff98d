"""Where the project template and the bundled blueprints are.

In a git checkout (the usual developer setup, and an editable install) they are the repository's
own `copier.yml`, `templates/`, `scaffold/` (the template's engine) and `blueprints/`, so
generated projects record the template's git commit and can be updated. An installed wheel
carries the template repository as a git bundle, unpacked into a repository of the user's when
a project is made (scaffold/bundled_template.py), and the blueprints inside the package. A wheel
built without git has only a plain copy of the template in the package (`_template/`): projects
generated from it can be created but not updated from it.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPOSITORY = PACKAGE_DIR.parent
PACKAGED = PACKAGE_DIR / "_template"


def in_checkout() -> bool:
    """Whether this scaffold runs from a git checkout (or an editable install of one), whose
    root is the template."""
    return (REPOSITORY / "copier.yml").is_file() and (REPOSITORY / "templates").is_dir()


def template_root() -> Path:
    """The directory holding copier.yml (the template's root for copier), as it is on disk: the
    checkout, or an installed package's plain copy (see bundled_template for the updatable
    one)."""
    return REPOSITORY if in_checkout() else PACKAGED


def blueprints_dir() -> Path:
    if (REPOSITORY / "blueprints").is_dir() and (REPOSITORY / "copier.yml").is_file():
        return REPOSITORY / "blueprints"
    return PACKAGED / "blueprints"


def bundled_blueprints() -> list[Path]:
    return sorted(blueprints_dir().glob("*.yaml"))


def find_bundled(name: str) -> Path | None:
    """A bundled blueprint by its name (`lenet`), for `--blueprint lenet`."""
    candidate = blueprints_dir() / f"{name}.yaml"
    return candidate if candidate.is_file() else None


def git_toplevel(path: Path) -> Path | None:
    """The root of the git work tree containing `path`, or None (no git, or not a repository)."""
    import subprocess  # here: `scaffold validate` finds bundled blueprints without it

    try:
        result = subprocess.run(
            ["git", "-C", str(path), "rev-parse", "--show-toplevel"],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return None
    if result.returncode != 0:
        return None
    return Path(result.stdout.strip()).resolve()
