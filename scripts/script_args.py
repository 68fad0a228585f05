"""Command-line parsing for the scripts: bad input is one line on stderr and exit status 2,
as `python -m mbpo.train` reports it, instead of argparse's usage block above the error;
the usage stays one `--help` away."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn


class OneLineErrors(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (python {sys.argv[0]} --help lists the options)\n")


def script_parser(doc: str | None) -> OneLineErrors:
    """A parser described by the first line of the script's docstring."""
    return OneLineErrors(description=doc.strip().splitlines()[0] if doc else None)
