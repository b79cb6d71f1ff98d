"""Consent before a template's own code runs, as copier asks for it.

Rendering a scaffold template runs Python from the template: its engine (the `scaffold/`
package copier.yml loads by its path), the team's blocks (`blocks/*.py`), any other Jinja
extension it names, and, in an update, its migrations. scaffold's bundled template is its own
code. Any other template's code runs only with the user's consent, given as copier takes it:
`--trust` on the command line, or the template's source in the `trust:` list of copier's own
settings file (an exact source, or a prefix ending in `/`), so one list serves both tools.
Without it, scaffold refuses before importing or writing anything.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path, PurePosixPath

import yaml

from .engine import ENGINE_EXTENSIONS
from .errors import UsageError

# copier.yml's extensions that are not the template's code: copier-template-extensions' loader
# (what it loads by path is checked on its own) and the installed scaffold's own extension,
# which template versions from before engines travelled with templates name
NOT_TEMPLATE_CODE = {
    "copier_template_extensions.TemplateExtensionLoader",
    "scaffold.jinja_ext.ScaffoldExtension",
    "scaffold.jinja_ext.ScaffoldContext",
}
SETTINGS_VARIABLE = "COPIER_SETTINGS_PATH"


class UntrustedTemplate(UsageError):
    """A template's code would run without the user's consent."""


def template_code(config: dict, blocks: list[str]) -> list[str]:
    """What of a template (its copier.yml `config`, the file names in its `blocks/` folder) runs
    as Python when scaffold or copier renders it: one description each, empty for none."""
    code = []
    for entry in config.get("_jinja_extensions", None) or []:
        if not isinstance(entry, str) or entry in NOT_TEMPLATE_CODE:
            continue
        path, _, name = entry.partition(":")
        if path.endswith(".py") and name in ENGINE_EXTENSIONS:
            engine = f"its engine {PurePosixPath(path).parent}/"
            if engine not in code:
                code.append(engine)
        else:
            code.append(f"the Jinja extension {entry}")
    python = sorted(name for name in blocks if name.endswith(".py"))
    if python:
        code.append("its blocks " + ", ".join(f"blocks/{name}" for name in python))
    if config.get("_migrations"):
        code.append("its migrations (_migrations)")
    return code


def settings_path() -> Path:
    """copier's settings file, found as copier finds it: $COPIER_SETTINGS_PATH, or settings.yml
    in the user's config folder (platformdirs)."""
    if os.environ.get(SETTINGS_VARIABLE):
        return Path(os.environ[SETTINGS_VARIABLE])
    from platformdirs import user_config_path  # a dependency of copier

    return user_config_path("copier", appauthor=False) / "settings.yml"


def trusted_in_settings(src_path: str) -> bool:
    """Whether copier's settings file trusts the template `src_path`, read by copier's own
    loader and matched by copier's own rule."""
    path = settings_path()
    if not path.is_file():
        return False
    try:
        from copier.errors import SettingsError
    except ImportError:  # an older copier 9 raises YAML's and pydantic's errors (ValueError)
        SettingsError = ValueError
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _copiers_rule(path)(src_path)
    except (SettingsError, ValueError, yaml.YAMLError) as error:
        raise UsageError(
            f"{path}: copier's settings file cannot be read: {error}\n"
            "  hint: fix it (see copier's docs, 'Settings'), or pass --trust"
        ) from None


def _copiers_rule(path: Path) -> Callable[[str], bool]:
    """copier's own test of a source against the settings file at `path` (copier's import costs
    half a second: only for a template with code of its own)."""
    try:
        from copier import load_settings
        from copier._settings import is_trusted_repository
    except ImportError:  # an older copier 9: its settings model does both
        from copier.settings import Settings

        return Settings.from_file(path).is_trusted
    settings = load_settings(path)
    return lambda src_path: is_trusted_repository(settings.trust, src_path)


def code_on_disk(root: Path, config: dict) -> list[str]:
    """template_code of the template whose files are at `root`."""
    return template_code(config, [p.name for p in (Path(root) / "blocks").glob("*.py")])


def require_consent(src_path: str, code: list[str]) -> None:
    """Refuse (UsageError) to go on with the template `src_path`, whose `code` (template_code)
    would run, unless there is none or copier's settings file trusts it."""
    if not code or trusted_in_settings(src_path):
        return
    raise _refusal(src_path, "; ".join(code))


def untrusted(src_path: str, error: Exception) -> UntrustedTemplate:
    """scaffold's refusal for copier's UnsafeTemplateError (copier found code scaffold could not
    see: a copier.yml with !include, a newer version's engine in an update)."""
    features = str(error).splitlines()[0].split(": ", 1)[-1].rstrip(".")
    return _refusal(src_path, f"copier found {features}")


def _refusal(src_path: str, what: str) -> UntrustedTemplate:
    return UntrustedTemplate(
        f"the template {src_path} runs code of its own ({what}), and you have not said you "
        "trust it; nothing was run or written\n"
        f"  hint: if you trust it, pass --trust, or add {src_path!r} (or a prefix of it ending "
        f"in '/') to the trust: list of copier's settings file {settings_path()}"
    )
