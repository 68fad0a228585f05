"""Every script meets bad input like `python -m mbpo.train` does: one line, exit status 2."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(p.name for p in (ROOT / "scripts").glob("*.py")
                 if "script_parser(__doc__)" in p.read_text())


def test_no_script_builds_a_parser_of_its_own():
    """A script on a plain argparse parser would print its usage block above the error."""
    own = [p.name for p in (ROOT / "scripts").glob("*.py")
           if "ArgumentParser(" in p.read_text() and p.name != "script_args.py"]
    assert not own and len(SCRIPTS) >= 10, (own, SCRIPTS)


@pytest.mark.cli
@pytest.mark.parametrize("script", SCRIPTS)
def test_an_unknown_option_is_one_line_and_exit_status_2(script):
    out = subprocess.run([sys.executable, f"scripts/{script}", "--no-such-option"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2 and len(lines) == 1, out.stderr
    assert lines[0].startswith("error: ") and f"scripts/{script} --help" in lines[0]
