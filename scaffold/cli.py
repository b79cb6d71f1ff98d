"""The `scaffold` command line.

Bad input (a blueprint, a path, a flag) ends with one clear message on stderr and exit code 2,
never a traceback; nothing is written in that case.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path

import click

from . import __version__
from .errors import BlueprintError, UsageError

TRUST_HELP = (
    "Let the template run its own code (its engine scaffold/, its Python blocks), as copier's "
    "--trust; without it, only scaffold's bundled template and those listed under trust: in "
    "copier's settings.yml do."
)
TRUST_OPTION = click.option("--trust", is_flag=True, help=TRUST_HELP)
EPILOG_TRUST = """
\b
A template other than the bundled one runs its own Python code (its engine and blocks): scaffold
refuses it (exit code 2) unless you pass --trust, or copier's settings file
($COPIER_SETTINGS_PATH, or ~/.config/copier/settings.yml on Linux) trusts its path or URL:
  trust:
    - ~/src/team-template
    - https://git.example.com/vision/    # a prefix: every repository under it
"""


EPILOG_NEW = """
\b
Examples:
  scaffold new --blueprint blueprints/bcnn_vgg16.yaml myproj
  scaffold new --blueprint lenet lenet-mnist --name lenet
  scaffold new --blueprint my.yaml proj --template https://git.example.com/team/templates.git --trust

\b
--force on an existing, non-empty DEST adds the generated files to it: files of yours that the
project does not contain are left alone; a file of yours that a generated file would replace
(with different content) is first moved to DEST/.scaffold-backup/TIME/, and every such file is
listed. Nothing is deleted. No git commit is made in that case.

\b
A --template with uncommitted changes is refused when they would be rendered (its HEAD): the
project records the template version it comes from, for `scaffold check` and `update`.
Commit them first, or name a committed version with --vcs-ref.
""" + EPILOG_TRUST


def _fail(message: str, code: int = 2) -> None:
    click.echo(message, err=True)
    sys.exit(code)


def _stop_writing_to_a_closed_pipe() -> None:
    """Exit as a command killed by SIGPIPE does (128 + 13), silently: Python would otherwise
    complain again when it flushes stdout at exit (the recipe of Python's signal docs)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    sys.exit(141)


class _Group(click.Group):
    """Turns expected errors into messages; anything else is a bug, reported as one."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except BlueprintError as error:
            _fail(str(error))
        except UsageError as error:
            _fail(f"scaffold: {error}")
        except KeyboardInterrupt:
            _fail("scaffold: interrupted; nothing was left half-written", 130)
        except BrokenPipeError:  # `scaffold list | head`: the reader has what it wanted
            _stop_writing_to_a_closed_pipe()
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException, SystemExit):
            raise
        except Exception as error:  # a bug in scaffold: say so, without a wall of text
            if os.environ.get("SCAFFOLD_DEBUG"):
                import traceback

                traceback.print_exc()
            _fail(
                f"scaffold: internal error: {type(error).__name__}: {error}\n"
                "  this is a bug in scaffold; set SCAFFOLD_DEBUG=1 to see the traceback",
                1,
            )


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="scaffold")
def main() -> None:
    """Turn a short blueprint YAML into a complete, standalone PyTorch training project.

    \b
    Examples:
      scaffold list
      scaffold validate blueprints/*.yaml
      scaffold inspect blueprints/resnet50.yaml
      scaffold new --blueprint blueprints/bcnn_vgg16.yaml myproj
      scaffold update myproj
    """


def _resolve_blueprint(value: str, engine=None) -> Path:
    """A path, or the name of a bundled blueprint (`lenet`): the template's own `blueprints/`
    first, then the ones scaffold comes with."""
    path = Path(value)
    if path.exists() or path.suffix in (".yaml", ".yml") or os.sep in value:
        return path
    if engine is not None and engine.root is not None:
        candidate = Path(engine.root) / "blueprints" / f"{value}.yaml"
        if candidate.is_file():
            return candidate
    from .resources import find_bundled  # only here: it imports subprocess

    bundled = find_bundled(value)
    return bundled if bundled is not None else path


@contextmanager
def _template_engine(template: str | None, vcs_ref: str | None = None, trust: bool = False):
    """The engine that reads blueprints for a template (scaffold/engine.py): this scaffold's
    own for the bundled template, the template's for a team's (--template)."""
    if template is None and vcs_ref is None:
        from .engine import running

        yield running()
        return
    from .render import open_template, template_source

    with open_template(template_source(template, vcs_ref, trust)) as opened:
        if opened.source.dirty and not opened.source.renders_locally:
            click.echo(f"note: {_left_out(opened)}; --vcs-ref HEAD reads them", err=True)
        yield opened.engine


def _left_out(opened) -> str:
    """What a template's uncommitted changes are, and that the version used lacks them."""
    from .render import _listed

    changes = _listed(opened.source.changes)
    return f"the template has uncommitted changes ({changes}), which {opened.ref} (used here) lacks"


def _load(value: str, engine=None):
    """(blueprint, plan), read and checked by `engine` (default: this scaffold's)."""
    if engine is None:
        from .engine import running

        engine = running()
    return engine.load(_resolve_blueprint(value, engine))


@main.command(epilog=EPILOG_NEW)
@click.option(
    "--blueprint",
    "-b",
    "blueprint_path",
    required=True,
    metavar="FILE",
    help="Blueprint YAML (or the name of a bundled one).",
)
@click.argument("dest", type=click.Path(path_type=Path))
@click.option(
    "--name",
    "package",
    metavar="PKG",
    help="Package name (default: DEST's name made an identifier).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Add the generated files to an existing, non-empty DEST (see below).",
)
@click.option(
    "--template",
    metavar="URL_OR_PATH",
    help="Project template to use instead of the bundled one (a team's fork).",
)
@click.option(
    "--vcs-ref",
    metavar="REF",
    help="Template version (git tag or commit; default: the bundled template as it is, a --template's newest tag).",
)
@TRUST_OPTION
@click.option(
    "--no-git", is_flag=True, help="Do not make DEST a git repository with a first commit."
)
def new(blueprint_path, dest, package, force, template, vcs_ref, trust, no_git) -> None:
    """Generate a training project from a blueprint into DEST.

    The blueprint is checked first, by the template's own version of scaffold; on any problem
    nothing is written. The project is rendered beside DEST and moved into place at the end, so
    DEST is either absent or complete.
    """
    from .render import new_project, new_source, open_template

    with open_template(new_source(template, vcs_ref, trust)) as opened:
        try:
            blueprint, plan = _load(blueprint_path, opened.engine)
        except BlueprintError as error:
            if not opened.source.dirty or opened.source.renders_locally:
                raise
            click.echo(str(error), err=True)
            _fail(f"note: {_left_out(opened)}; commit them, then pass --vcs-ref HEAD (or tag them)")
        result = new_project(
            blueprint, dest, package, force, git=not no_git, opened=opened, plan=plan
        )
    for note in result.notes:
        click.echo(f"note: {note}", err=True)
    if result.replaced or result.added:
        click.echo(f"Added {len(result.added)} files to {dest}, replaced {len(result.replaced)}.")
        for name in result.replaced:
            click.echo(f"  replaced {name} (your version is in {dest}/.scaffold-backup/)")
        click.echo("No commit was made: review the changes, then commit them.")
    else:
        click.echo(
            f"Created {dest}: package {result.package}, model {plan.class_name} ({plan.total_params:,} parameters)."
        )
        if result.committed:
            click.echo("It is a git repository with everything in a first commit.")
    click.echo("Next:")
    click.echo(f"  cd {dest} && pip install -e . && python -m {result.package}.train --help")


TEMPLATE_OPTION = click.option(
    "--template",
    metavar="URL_OR_PATH",
    help="Read blueprints as this project template's version of scaffold does (a team's fork).",
)
TEMPLATE_REF_OPTION = click.option(
    "--vcs-ref",
    metavar="REF",
    help="Version of --template (git tag or commit; default: its newest tag).",
)


@main.command(epilog=EPILOG_TRUST)
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@TEMPLATE_OPTION
@TEMPLATE_REF_OPTION
@TRUST_OPTION
def validate(files, template, vcs_ref, trust) -> None:
    """Check blueprints: print `ok` for each good one, or its problems (exit code 2).

    \b
    Examples:
      scaffold validate blueprints/*.yaml
      scaffold validate my.yaml --template https://git.example.com/team/templates.git --trust
    """
    failed = False
    with _template_engine(template, vcs_ref, trust) as engine:
        for value in files:
            try:
                blueprint, _ = _load(value, engine)
            except BlueprintError as error:
                failed = True
                click.echo(str(error), err=True)
                continue
            click.echo(f"{value}: ok" if len(files) > 1 else "ok")
            for note in engine.advice(blueprint):
                click.echo(f"note: {note}", err=True)
    if failed:
        sys.exit(2)


@main.command(epilog=EPILOG_TRUST)
@click.argument("file", metavar="FILE")
@TEMPLATE_OPTION
@TEMPLATE_REF_OPTION
@TRUST_OPTION
def inspect(file, template, vcs_ref, trust) -> None:
    """Print every layer with its output shape, parameters and multiply-adds, without torch.

    \b
    Examples:
      scaffold inspect blueprints/bcnn_vgg16.yaml
      scaffold inspect my.yaml --template ~/src/team-template --trust
    """
    with _template_engine(template, vcs_ref, trust) as engine:
        blueprint, plan = _load(file, engine)
        click.echo(engine.inspect_table(blueprint, plan))


@main.command(name="list")
def list_() -> None:
    """List the bundled blueprints, one line each.

    \b
    Example:
      scaffold list
      scaffold new --blueprint lenet myproj
    """
    import yaml

    from .resources import bundled_blueprints

    paths = bundled_blueprints()
    width = max((len(p.stem) for p in paths), default=0)
    for path in paths:
        try:
            description = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get(
                "description", ""
            )
        except yaml.YAMLError:
            description = "(unreadable)"
        click.echo(f"{path.stem.ljust(width)}  {description}")


@main.command(epilog=EPILOG_TRUST)
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path),
    metavar="FILE",
    help="Write to FILE instead of standard output.",
)
@click.option(
    "--template",
    metavar="URL_OR_PATH",
    help="The schema of this project template's blueprints, with its own block kinds (a team's).",
)
@TEMPLATE_REF_OPTION
@TRUST_OPTION
def schema(output, template, vcs_ref, trust) -> None:
    """Print the blueprint JSON Schema, for editors.

    \b
    Example (yaml-language-server, e.g. in VS Code):
      scaffold schema -o blueprint.schema.json
      scaffold schema --trust --template ~/src/team-template -o blueprint.schema.json
      # then, as the first line of a blueprint:
      # yaml-language-server: $schema=blueprint.schema.json
    """
    with _template_engine(template, vcs_ref, trust) as engine, engine.errors_translated():
        text = engine.module("schema").schema_json()
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}")


@main.command(epilog=EPILOG_TRUST)
@click.argument("project", type=click.Path(path_type=Path), default=".")
@click.option(
    "--blueprint",
    "-b",
    "blueprint_path",
    metavar="FILE",
    help="Regenerate from this blueprint instead of the recorded one.",
)
@click.option(
    "--vcs-ref",
    metavar="REF",
    help="Template version to update to (default: the newest; with --blueprint: the current one).",
)
@TRUST_OPTION
def update(project, blueprint_path, vcs_ref, trust) -> None:
    """Bring template improvements (or a changed blueprint) into PROJECT, keeping your edits.

    PROJECT must be a git repository without uncommitted changes. Where your edits and the
    template's changes touch the same lines, the file gets conflict markers, it is listed,
    and the exit code is 1.

    \b
    Examples:
      scaffold update myproj
      scaffold update myproj --blueprint blueprints/bcnn_vgg16.yaml
    """
    from .update import blueprint_for_project, update_project

    blueprint = None
    if blueprint_path:  # read as the project's template version reads blueprints
        blueprint = blueprint_for_project(project, _resolve_blueprint(blueprint_path), trust)
    report = update_project(project, blueprint, vcs_ref, trust)
    click.echo(report.summary())
    if report.conflicts:
        sys.exit(1)


@main.command(epilog=EPILOG_TRUST)
@click.argument("project", type=click.Path(path_type=Path), default=".")
@click.option(
    "--template",
    metavar="URL_OR_PATH",
    help="Render from this template instead of the recorded one.",
)
@click.option(
    "--vcs-ref",
    metavar="REF",
    help="Template version (default: the recorded one; with --template: its HEAD).",
)
@TRUST_OPTION
def check(project, template, vcs_ref, trust) -> None:
    """Check that PROJECT's generated files are what its blueprint and template give.

    Re-renders the project from its recorded blueprint and template version and prints a diff
    of every generated file that differs (exit code 1). Files you added are not looked at.

    \b
    Examples:
      scaffold check myproj
      scaffold check examples/lenet --template .      # against this checkout's template
    """
    from .update import check_project

    report = check_project(project, template, vcs_ref, trust)
    click.echo(report.text())
    if not report.ok:
        sys.exit(1)


@main.command(epilog=EPILOG_TRUST)
@click.argument("blueprints", nargs=-1, metavar="[BLUEPRINT...]")
@click.option("--keep", is_flag=True, help="Keep the generated projects (their folder is printed).")
@click.option(
    "--template", metavar="URL_OR_PATH", help="Project template to use instead of the bundled one."
)
@TRUST_OPTION
def smoke(blueprints, keep, template, trust) -> None:
    """Generate, format-check, test and briefly train each blueprint (default: all bundled).

    Prints one line per blueprint: ok or what failed, and the time taken. Exit code 1 if any
    failed.

    \b
    Examples:
      scaffold smoke
      scaffold smoke blueprints/lenet.yaml my_model.yaml
    """
    from .resources import bundled_blueprints
    from .smoke import smoke_blueprints

    if template is not None and not trust:
        with _template_engine(template, trust=False):  # refused here, not once per blueprint
            pass
    paths = [_resolve_blueprint(b) for b in blueprints] or bundled_blueprints()
    ok = smoke_blueprints(paths, keep=keep, template=template, echo=click.echo, trust=trust)
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
