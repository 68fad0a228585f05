"""Every script meets bad input like `python -m mbpo.train` does: one line, exit status 2."""

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from script_args import finite_number, thread_count, whole_number  # noqa: E402

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


@pytest.mark.cli
@pytest.mark.parametrize("script, flags, named", [
    ("ab_speed.py", ["HEAD", "--threads", "-1"], "argument --threads: '-1' is not a whole "
                                                 "number >= 0"),
    ("ab_speed.py", ["HEAD", "--rounds", "0"], "argument --rounds: '0' is not a whole number"),
    ("ab_speed.py", ["no-such-rev"], "argument rev: 'no-such-rev' is not a commit of"),
    ("matmul_backends.py", ["--threads", "two"], "argument --threads: 'two' is not a whole"),
    ("matmul_backends.py", ["--repeats", "-5"], "argument --repeats: '-5' is not a whole"),
    ("bench_learning.py", ["--suite", "hopper20", "{out}", "--jobs", "0"],
     "argument --jobs: '0' is not a whole number >= 1"),
    ("bench_learning.py", ["--suite", "hopper20", "{out}", "--steps", "1.5"],
     "argument --steps: '1.5' is not a whole number >= 1"),
    ("compare_suites.py", ["{out}", "{out}", "--suite", "hopper20", "--steps", "-3"],
     "argument --steps: '-3' is not a whole number >= 1"),
    ("signal_study.py", ["{out}", "--beta", "nan"], "argument --beta: 'nan' is not a finite "
                                                    "number >= 0"),
    ("compare_suites.py", ["{out}", "{out}", "--suite", "hopper20", "--solved", "nan"],
     "argument --solved: 'nan' is not a finite number"),
    ("signal_study.py", ["{out}", "--h-min", "5", "--h-max", "3"],
     "--h-min (5) must be <= --h-max (3)"),
    ("same_scalars.py", ["--base", "no-such-rev", "--out", "{out}"],
     "argument --base: 'no-such-rev' is not a commit of"),
    ("same_scalars.py", ["--env", "hoper", "--out", "{out}"], "argument --env: invalid choice"),
])
def test_a_bad_number_or_revision_is_refused_before_any_work(tmp_path, script, flags, named):
    """A negative thread count, a zero round count or a misspelt revision used to be taken
    as given (or end in a traceback once the work had started)."""
    out_dir = tmp_path / "out"
    argv = [str(out_dir) if f == "{out}" else f for f in flags]
    done = subprocess.run([sys.executable, f"scripts/{script}", *argv], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert named in done.stderr and not done.stdout
    assert not out_dir.exists()  # nothing was made


def test_number_types_take_what_is_allowed_and_name_what_is_not():
    assert thread_count("0") == 0 and thread_count("3") == 3
    assert whole_number(1)(" 7") == 7 and finite_number(0)("2.5") == 2.5
    assert finite_number()("-310.5") == -310.5  # a return may be negative
    for parse, value in ((thread_count, "-1"), (whole_number(1), "0"), (whole_number(1), "1e3"),
                         (finite_number(0), "inf"), (finite_number(0), "-0.1"),
                         (finite_number(), "nan")):
        with pytest.raises(argparse.ArgumentTypeError, match=repr(value)):
            parse(value)
