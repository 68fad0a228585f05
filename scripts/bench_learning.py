"""Learning-quality suites: schedules x seeds through the project's Hydra multirun, resumable.

Usage: python scripts/bench_learning.py --suite quick|hopper|hopper20|full OUT_DIR
           [--jobs 2] [--schedules a,b] [--seeds N] [--steps N] [--report-only]
           [-- extra Hydra overrides...]

Runs the suite's sweep with `python -m mbpo.train -m` (joblib launcher, one torch thread per
job; or any Hydra launcher given as an extra override, e.g. `-- hydra/launcher=submitit_slurm
hydra.launcher.partition=gpu device=cuda`) into OUT_DIR/runs/<overrides>, then writes into
OUT_DIR:
  results.md      eval return mean [95% bootstrap CI] at each budget per schedule, mean
                  horizon, mean realised length, wall time, finished/started runs, anchors;
  return.png      eval return curves (mean and 95% CI band over finished seeds);
  horizon.png     horizon and realised length per phase, and the start-state Var
                  distribution (10/50/90% quantiles) that the adaptive rule reads.
A suite with a matched `fixed` arm (hopper20) runs it only once every seed of its adaptive
arm has finished, at h = the adaptive runs' mean realised length, rounded: the control that
says whether following the uncertainty adds anything over a well-chosen constant.
Running the same command again skips finished runs (their summary.json) and resumes
interrupted ones from their checkpoints (`resume=auto`), so a suite can be completed over
several sittings; nothing is estimated for runs that did not reach a budget.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

from provenance import code_commit, own_command
from script_args import config_options, script_parser, whole_number
from suite_report import report
from suite_runs import matched_horizon
from suites import SUITES, Suite

from mbpo.config import IDENTITY_FREE
from mbpo.run_dir import run_dir_in_use

# Left out of run directory names: the settings that leave what a run computes unchanged,
# so a resumed or re-launched run (more steps, another thread count) keeps its directory.
# Comparing two values of one of them takes an OUT_DIR each (scripts/compare_suites.py).
DIRNAME_EXCLUDES = f"[{','.join(IDENTITY_FREE)}]"


def sweep_command(suite: Suite, out: Path, jobs: int, extra: list[str],
                  schedules: tuple[str, ...] | None = None) -> list[str]:
    """One Hydra multirun over envs x seeds x schedules (seeds outermost: seed 0 of every
    schedule finishes first, which is what a partially completed suite should hold).
    A `hydra/launcher=...` among the extra overrides (a cluster) replaces the local joblib."""
    own_launcher = any(o.startswith("hydra/launcher=") for o in extra)
    launcher = [] if own_launcher else ["hydra/launcher=joblib", f"hydra.launcher.n_jobs={jobs}"]
    return [
        sys.executable, "-m", "mbpo.train", "-m",
        f"env={','.join(suite.envs)}",
        f"seed={','.join(str(s) for s in range(suite.seeds))}",
        f"rollout={','.join(schedules or suite.schedules)}",
        f"total_steps={suite.total_steps}", f"checkpoint_every={suite.checkpoint_every}",
        *suite.overrides,
        "resume=auto", "threads=1", *launcher,
        f"hydra.sweep.dir={out / 'runs'}",
        "hydra.sweep.subdir=${hydra.job.override_dirname}",
        f"hydra.job.config.override_dirname.exclude_keys={DIRNAME_EXCLUDES}",
        *extra,
    ]


def log_invocation(out: Path, started: datetime.datetime, commit: str, status: str) -> None:
    """Append what ran to OUT_DIR/invocations.md: a suite completed over several sittings
    keeps the date, commit and command of each. A row is written when the sweep starts
    and another when it ends, so a sitting cut short (a killed session) is on record too;
    both name the commit the sitting started from, whatever the checkout holds by its end."""
    path = out / "invocations.md"
    header = "| started | git commit | command | status |\n|---|---|---|---|\n"
    if not path.is_file():
        path.write_text(header)
    elif not path.read_text().startswith(header):  # written before the status column
        with path.open("a") as f:
            f.write("\n" + header)
    with path.open("a") as f:
        f.write(f"| {started.isoformat(timespec='minutes')} | {commit} | "
                f"`{own_command()}` | {status} |\n")


STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP")
                     if hasattr(signal, name))


def run_forwarding_stops(command: list[str], runs_dir: Path) -> int:
    """Run the sweep in its own process group and turn SIGINT, SIGTERM or SIGHUP sent to
    this script into SIGTERM for every process in it: each run checkpoints and stops,
    joblib's workers too (SIGINT would make joblib kill its workers mid-step; a closed
    terminal would leave the sweep running), and the sitting's end reaches invocations.md.
    Killing the script used to leave its sweep running and no end row.

    After a stop this waits, saying so, until no run under `runs_dir` is held any more (a
    run locks its directory until it has checkpointed), then ends the launcher's idle
    workers. A second signal stops the runs at once (their handlers are spent)."""
    if not hasattr(os, "killpg"):  # (Windows: no process groups to pass signals to)
        return subprocess.run(command).returncode
    stopped: list[int] = []
    group: list[int] = []

    def forward(signum: int, _frame: object) -> None:
        stopped.append(signum)
        if group:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group[0], signal.SIGTERM)

    previous = {sig: signal.signal(sig, forward) for sig in STOP_SIGNALS}
    try:
        proc = subprocess.Popen(command, start_new_session=True)
        group.append(proc.pid)
        if stopped:  # a signal came before the sweep existed
            forward(stopped[0], None)
        code = proc.wait()
        if stopped:
            wait_for_checkpoints(runs_dir)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            code = -stopped[0]
        return code
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def wait_for_checkpoints(runs_dir: Path) -> None:
    """Until no run under `runs_dir` holds its directory, with a line every 30 s."""
    said = 0.0
    while busy := [d.name for d in sorted(runs_dir.glob("*")) if run_dir_in_use(d)]:
        if time.time() - said > 30:
            print(f"waiting for {len(busy)} run(s) to checkpoint and stop: {', '.join(busy)} "
                  "(signal again to stop them at once)", flush=True)
            said = time.time()
        time.sleep(0.5)


def launch(out: Path, command: list[str]) -> int:
    print("running:", shlex.join(command), flush=True)
    started, tic, commit = datetime.datetime.now(), time.time(), code_commit()
    out.mkdir(parents=True, exist_ok=True)
    log_invocation(out, started, commit, "started")
    code = run_forwarding_stops(command, out / "runs")
    how = f"exit {code}" if code >= 0 else f"stopped by {signal.Signals(-code).name}"
    log_invocation(out, started, commit,
                   f"ended after {(time.time() - tic) / 60:.1f} min, {how}")
    if code != 0:
        print(f"the sweep exited with {code}; reporting what finished", file=sys.stderr)
    return code


def main() -> None:
    parser = script_parser(__doc__)
    parser.add_argument("--suite", required=True, choices=sorted(SUITES))
    parser.add_argument("out", type=Path)
    parser.add_argument("--jobs", type=whole_number(1), default=2, help="runs in parallel (1 thread each)")
    parser.add_argument("--schedules", help="comma-separated subset of the suite's schedules "
                        "(e.g. an ablation: --schedules adaptive -- rollout.beta=10)")
    parser.add_argument("--seeds", type=whole_number(1), help="change the suite's number of seeds")
    parser.add_argument("--steps", type=whole_number(1), help="change the suite's env steps per run")
    parser.add_argument("--report-only", action="store_true", help="only rewrite the report")
    argv = sys.argv[1:]
    extra = argv[argv.index("--") + 1:] if "--" in argv else []  # Hydra overrides for all runs
    args = parser.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    for override in extra:  # each value would map to the same run directory
        key, _, value = override.lstrip("+~").partition("=")
        if key in IDENTITY_FREE and ("," in value or value.startswith(("range(", "choice("))):
            parser.error(f"{override}: {key} leaves what a run computes unchanged, so run "
                         "directories leave it out of their names; give each value its own "
                         "OUT_DIR and compare them with scripts/compare_suites.py")
    suite, out = SUITES[args.suite], args.out.resolve()
    if args.seeds is not None:
        suite = dataclasses.replace(suite, seeds=args.seeds)
    if args.steps is not None:
        budgets = tuple(b for b in suite.budgets if b < args.steps) + (args.steps,)
        suite = dataclasses.replace(suite, total_steps=args.steps, budgets=budgets)
    if args.schedules is not None:
        chosen = tuple(args.schedules.split(","))
        options = config_options("rollout")  # the suite's own, or another arm such as `none`
        if not chosen or not set(chosen) <= set(suite.schedules) | set(options):
            parser.error(f"--schedules must name rollout options ({','.join(options)}), "
                         f"got {args.schedules}")
    to_run = dataclasses.replace(suite, schedules=chosen) if args.schedules else suite
    matched = to_run.matched_fixed and "fixed" in to_run.schedules
    first = tuple(s for s in to_run.schedules if not (matched and s == "fixed"))
    command = sweep_command(to_run, out, args.jobs, extra, first)
    launched: list[list[str]] = []
    if not args.report_only:
        out.mkdir(parents=True, exist_ok=True)
        code = 0
        if first:
            launched.append(command)
            code = launch(out, command)
        if matched and code == 0:
            h, why = matched_horizon(out, suite)
            print(f"fixed arm: {f'h = {h} ({why})' if h else why}", flush=True)
            if h is not None:
                launched.append(sweep_command(to_run, out, args.jobs,
                                              [*extra, f"rollout.h={h}"], ("fixed",)))
                code = launch(out, launched[-1])
    print(f"wrote {report(args.suite, suite, out, launched)}")
    if not args.report_only and code != 0:  # a stopped or failed sitting is not a success
        sys.exit(code if code > 0 else 128 - code)  # killed by signal N: 128 + N, as a shell


if __name__ == "__main__":
    main()
