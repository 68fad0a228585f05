"""Command-line parsing for the scripts: bad input is one line on stderr and exit status 2,
as `python -m mbpo.train` reports it, instead of argparse's usage block above the error;
the usage stays one `--help` away. The argparse types here refuse a value while the
arguments are parsed, before any measurement or run starts."""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

ROOT = Path(__file__).resolve().parents[1]


class OneLineErrors(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (python {sys.argv[0]} --help lists the options)\n")


def script_parser(doc: str | None) -> OneLineErrors:
    """A parser described by the first line of the script's docstring."""
    return OneLineErrors(description=doc.strip().splitlines()[0] if doc else None)


def names_from(allowed: tuple[str, ...] | dict) -> Callable[[str], list[str]]:
    """An argparse type: a comma-separated subset of `allowed`, each name once, so a misspelt
    name is a one-line usage error (exit status 2) before any measurement starts."""
    def parse(value: str) -> list[str]:
        names = list(dict.fromkeys(n.strip() for n in value.split(",")))  # in order, once
        unknown = [n for n in names if n not in allowed]
        if unknown:
            raise argparse.ArgumentTypeError(
                f"unknown {', '.join(map(repr, unknown))}; choose from {', '.join(allowed)}")
        return names
    return parse


def whole_number(least: int) -> Callable[[str], int]:
    """An argparse type: a whole number >= `least` (`--threads -1` or `--rounds 0` would
    otherwise be taken as given and fail, or mean something else, later)."""
    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            number = None
        if number is None or number < least:
            raise argparse.ArgumentTypeError(f"{value!r} is not a whole number >= {least}")
        return number
    return parse


def finite_number(least: float | None = None) -> Callable[[str], float]:
    """An argparse type: a finite number, >= `least` if given (float() alone takes nan and
    inf, which would pass every later comparison as False)."""
    bound = "" if least is None else f" >= {least:g}"

    def parse(value: str) -> float:
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not (math.isfinite(number) and (least is None or number >= least)):
            raise argparse.ArgumentTypeError(f"{value!r} is not a finite number{bound}")
        return number
    return parse


def git_revision(value: str) -> str:
    """An argparse type: a revision of this repository's git history (a branch, tag or
    hash), checked before a script builds trees or runs anything from it."""
    def git(*args: str) -> bool:
        try:
            return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True).returncode == 0
        except OSError:  # no git on this machine
            return False

    if not git("rev-parse", "--verify", "--quiet", f"{value}^{{commit}}"):
        if not git("rev-parse", "--git-dir"):
            raise argparse.ArgumentTypeError(f"{value!r} needs git and a git checkout of the "
                                             f"project; {ROOT} is not one (or git is missing)")
        raise argparse.ArgumentTypeError(f"{value!r} is not a commit of {ROOT}'s git history")
    return value


def config_options(group: str) -> list[str]:
    """The options of a config group (`env`, `rollout`, ...) where `python -m mbpo.train`
    finds them (mbpo.config.CONF_DIR: the checkout's conf/, or the installed package's)."""
    from mbpo.config import CONF_DIR  # here, not at the top: most scripts never need Hydra

    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))


thread_count = whole_number(0)
"""torch threads: 0 keeps torch's default (one per core), N sets N."""
