"""Command-line preflight: Hydra's own errors as one line and exit status 2, like ours.

Hydra reports a bad override (unknown key, wrong type, unknown option, unparsable text)
with several lines and exit status 1. Before handing the command to Hydra, the overrides
are parsed and composed here once per swept value, and the first error is printed as one
line that names the field, the value and what is allowed. The directory a run would be
written to is checked for writability too. Nothing is created on the way.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException, MissingConfigException
from omegaconf.errors import OmegaConfBaseException

from mbpo.config import CONF_DIR, RunConfig, register_configs

PASS_THROUGH = ("-h", "--help", "--hydra-help", "--version", "-i", "--info", "-c", "--cfg",
                "-p", "--package", "--resolve", "-sc", "--shell-completion", "-cp",
                "--config-path", "-cn", "--config-name", "-cd", "--config-dir",
                "--experimental-rerun")
"""Flags that change what Hydra does or where it finds the config: left to Hydra."""


class CommandError(ValueError):
    """A command line that would fail in Hydra, as one line."""


def _key_value(override: str) -> tuple[str, str]:
    key, _, value = override.lstrip("+~").partition("=")
    return key, value


def _message(error: Exception, override: str | None) -> str:
    """One line naming the field, the value and what is allowed."""
    key, value = _key_value(override) if override else ("", "")
    text = str(error).strip()
    if isinstance(error, MissingConfigException) and error.options:
        group = re.search(r"Could not find '([^/']+)/", text)
        name = group.group(1) if group else key
        return (f"{name}={value or '?'} is not an option of {name}; allowed: "
                f"{', '.join(error.options)}")
    cause = error.__cause__
    if text.startswith("Could not override"):
        if key.count(".") == 0:
            allowed = f"the top-level settings are {', '.join(RunConfig.__dataclass_fields__)}"
        else:
            allowed = f"`--cfg job {key.rsplit('.', 1)[0].split('.')[0]}=...` lists the fields"
        return f"{key}={value} is not a setting; {allowed}"
    if isinstance(cause, OmegaConfBaseException):
        detail = str(cause).strip().splitlines()[0]
        return f"{key}={value}: {detail}"
    return (f"{override}: " if override else "") + text.splitlines()[0]


def _writable(path: Path) -> bool:
    """Whether `path` can be created: its nearest existing ancestor is a writable folder."""
    path = path.absolute()
    while not path.exists():
        path = path.parent
    return path.is_dir() and os.access(path, os.W_OK | os.X_OK)


def check_command(argv: list[str]) -> None:
    """Raise CommandError for a command Hydra would refuse; do nothing for flags it owns."""
    if any(arg.split("=", 1)[0] in PASS_THROUGH for arg in argv):
        return
    multirun = any(arg in ("-m", "--multirun") for arg in argv)
    overrides = [arg for arg in argv if not arg.startswith("-")]
    parser = OverridesParser.create()
    parsed = []
    for text in overrides:
        try:
            parsed.append(parser.parse_override(text))
        except Exception as e:
            raise CommandError(f"cannot read {text!r}: {str(e).strip().splitlines()[0]}") from e
    # One composition per swept value (the others at their first value): a bad value in a
    # sweep is found before the first job starts.
    # An interval (a sweeper's search space, e.g. Optuna's) has no values to list: it is
    # left out here, and each trial's values are checked by the run itself.
    values = [_values(o) for o in parsed]
    first = [o.input_line if v is None else f"{o.get_key_element()}={v[0]}"
             for o, v in zip(parsed, values) if v != []]
    variants = [(None, first)]
    if multirun:
        for o, v in zip(parsed, values):
            for value in (v or [])[1:]:
                line = f"{o.get_key_element()}={value}"
                variants.append((line, [line if x.split("=", 1)[0] == o.get_key_element()
                                        else x for x in first]))
    register_configs()
    for culprit, variant in variants:
        try:
            with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
                compose(config_name="config", overrides=variant)
        except Exception as e:
            raise CommandError(_message(e, culprit or _culprit(e, variant))) from e
    for text in first:
        key, value = _key_value(text)
        if key in ("hydra.run.dir", "hydra.sweep.dir") and not _writable(Path(value)):
            raise CommandError(f"{key}={value} cannot be created or written (permissions, "
                               "or a file in the way); choose a writable directory")
    if not _writable(Path.cwd()):
        raise CommandError(f"the working directory {Path.cwd()} is not writable, and runs "
                           "are written under it; set hydra.run.dir to a writable directory")


def _values(override: Any) -> list[str] | None:
    """A sweep's values as text; None for a plain override, [] for one with no list."""
    if not override.is_sweep_override():
        return None
    try:
        return list(override.sweep_string_iterator())
    except HydraException:
        return []


def _culprit(error: Exception, overrides: list[str]) -> str | None:
    """The override an error is about, from the key or text Hydra names in it."""
    text = str(error)
    for pattern in (lambda k, v, o: f"'{k.split('.')[0]}/{v}'", lambda k, v, o: f"override {o}",
                    lambda k, v, o: f"'{k}'"):
        for override in reversed(overrides):  # the last of one key is the one in force
            if pattern(*_key_value(override), override) in text:
                return override
    return None


def preflight(argv: list[str]) -> None:
    """Exit with one line and status 2 if Hydra would refuse the command."""
    try:
        check_command(argv)
    except CommandError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
