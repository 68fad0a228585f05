"""Every command the README shows runs as written: mbpo.train overrides compose (each swept
value, as the CLI preflight checks them), evaluate takes only its own arguments, scripts
exist and parse their options. Nothing is trained."""

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from mbpo.cli import check_command

ROOT = Path(__file__).resolve().parents[1]
EVALUATE_ARGS = {"run_dir", "episodes", "seed", "device", "video", "export"}


def readme_commands() -> list[list[str]]:
    """The README's fenced commands that run mbpo or its scripts, comments dropped."""
    blocks = re.findall(r"^```[^\n]*\n(.*?)^```", (ROOT / "README.md").read_text(), re.S | re.M)
    commands = []
    for block in blocks:
        for line in block.replace("\\\n", " ").splitlines():
            for part in line.split("&&"):
                words = shlex.split(part, comments=True)
                if any(w in ("mbpo.train", "mbpo.evaluate") or w.startswith("scripts/")
                       for w in words):
                    commands.append(words)
    return commands


COMMANDS = readme_commands()


def test_the_readme_shows_commands():
    assert len(COMMANDS) >= 10


@pytest.mark.parametrize("words", COMMANDS, ids=[" ".join(c)[:80] for c in COMMANDS])
def test_a_readme_command_runs_as_written(words):
    if "mbpo.train" in words:
        check_command(words[words.index("mbpo.train") + 1:])  # raises CommandError
    elif "mbpo.evaluate" in words:
        keys = {w.split("=", 1)[0] for w in words[words.index("mbpo.evaluate") + 1:]}
        assert keys <= EVALUATE_ARGS, keys - EVALUATE_ARGS
    else:
        script = next(w for w in words if w.startswith("scripts/"))
        assert (ROOT / script).is_file()
        out = subprocess.run([sys.executable, script, "--help"], cwd=ROOT, capture_output=True,
                             text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        options = {w.split("=", 1)[0] for w in words if w.startswith("--")} - {"--"}
        for option in options:
            assert option in out.stdout, f"{script} has no {option}"
