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


def finite_number(least: float) -> Callable[[str], float]:
    """An argparse type: a finite number >= `least` (float() alone takes nan and inf)."""
    def parse(value: str) -> float:
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not (math.isfinite(number) and number >= least):
            raise argparse.ArgumentTypeError(f"{value!r} is not a finite number >= {least:g}")
        return number
    return parse


def git_revision(value: str) -> str:
    """An argparse type: a revision of this repository's git history (a branch, tag or
    hash), checked before a script builds trees or runs anything from it."""
    found = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--verify", "--quiet",
                            f"{value}^{{commit}}"], capture_output=True, text=True)
    if found.returncode != 0:
        raise argparse.ArgumentTypeError(f"{value!r} is not a commit of {ROOT}'s git history")
    return value


# torch threads: 0 keeps torch's default, N sets N
thread_count = whole_number(0)
