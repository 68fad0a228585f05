"""Which code a measurement ran: the git commit of the checkout `mbpo` is imported from.

A benchmark is often run from a second worktree (so that editing the main one cannot touch
it), and a report written from another directory; the cwd's commit would name the wrong
code in both cases.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import mbpo


def code_commit() -> str:
    """Short commit of the checkout holding the imported `mbpo`, with `+dirty` when its
    tracked files differ from that commit; `unknown` outside git."""
    root = Path(mbpo.__file__).resolve().parents[1]

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True,
                              text=True, check=True).stdout.strip()

    try:
        commit = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")
