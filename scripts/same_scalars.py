"""Do seeded runs log the same scalars, bit for bit, at a base revision and in this tree?

The check every refactor runs: the same short seeded runs of every schedule (and the
model-free baseline where both trees have it), in a worktree of BASE and in the working
tree, then every scalar the two have in common compared value for value. perf/* (timings)
and hparam/* are skipped; tags only one side logs are listed, not compared.

Usage: python scripts/same_scalars.py [--base REV] [--out DIR] [--env ENV ...]
Exit status 0 when every common scalar is equal, 1 otherwise.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from script_args import config_options, git_revision, script_parser

from mbpo.events import read_scalars

ROOT = Path(__file__).resolve().parents[1]
SCHEDULES = ("fixed", "linear", "adaptive", "masked")
SKIPPED = ("perf/", "hparam/")
RUN_ARGS = ("experiment=debug", "total_steps=400", "threads=1", "seed=3", "diagnostic_every=100")


def run(tree: Path, out: Path, env: str, schedule: str) -> Path:
    run_dir = out / f"{env}_{schedule}"
    if run_dir.exists():
        shutil.rmtree(run_dir)
    cmd = [sys.executable, "-m", "mbpo.train", f"env={env}", f"rollout={schedule}", *RUN_ARGS,
           f"hydra.run.dir={run_dir}"]
    done = subprocess.run(cmd, cwd=tree, capture_output=True, text=True,
                          env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"})
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed in {tree}:\n{done.stderr[-2000:]}")
    return run_dir


def compare(base: Path, head: Path) -> tuple[int, list[str], list[str]]:
    """(values compared, mismatches, tags only one side has)."""
    a, b = read_scalars(base), read_scalars(head)
    compared, mismatches = 0, []
    for tag in sorted(set(a) & set(b)):
        if tag.startswith(SKIPPED):
            continue
        if a[tag] != b[tag]:
            first = next((x, y) for x, y in zip(a[tag], b[tag]) if x != y) if len(a[tag]) == len(
                b[tag]) else (len(a[tag]), len(b[tag]))
            mismatches.append(f"{tag}: first difference {first}")
        compared += len(a[tag])
    only = sorted(t for t in set(a) ^ set(b) if not t.startswith(SKIPPED))
    return compared, mismatches, only


def main() -> None:
    parser = script_parser(__doc__)
    parser.add_argument("--base", type=git_revision, default="HEAD", help="revision to compare against")
    parser.add_argument("--out", type=Path, default=None, help="keep the runs here")
    parser.add_argument("--env", nargs="+", choices=config_options("env"),
                        default=["hopper", "inverted_pendulum"])
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="same_scalars_"))
    worktree = out / "base_tree"
    if worktree.exists():
        subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=ROOT)
    subprocess.run(["git", "worktree", "add", "--detach", str(worktree), args.base], cwd=ROOT,
                   check=True, capture_output=True)
    failed = False
    try:
        for env in args.env:
            for schedule in SCHEDULES:
                base = run(worktree, out / "base", env, schedule)
                head = run(ROOT, out / "head", env, schedule)
                compared, mismatches, only = compare(base, head)
                status = "same" if not mismatches and compared else "DIFFERENT"
                failed |= status != "same"
                print(f"{env:18s} {schedule:9s} {status:9s} {compared} values compared"
                      + (f"; only one side logs {', '.join(only)}" if only else ""))
                for line in mismatches:
                    print(f"    {line}")
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=ROOT)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
