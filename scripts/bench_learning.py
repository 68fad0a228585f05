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

import argparse
import collections
import contextlib
import dataclasses
import datetime
import json
import os
import platform
import re
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
import torch
import yaml

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from provenance import code_commit, cpu_name  # noqa: E402

from mbpo.config import IDENTITY_FREE  # noqa: E402
from mbpo.events import read_scalars  # noqa: E402
from mbpo.report import Scalars, band_plot, fmt_ci, value_at  # noqa: E402
from mbpo.run_dir import run_dir_in_use  # noqa: E402


@dataclass(frozen=True)
class Suite:
    envs: tuple[str, ...]
    schedules: tuple[str, ...]
    seeds: int
    total_steps: int
    budgets: tuple[int, ...]
    checkpoint_every: int
    overrides: tuple[str, ...] = ()  # for every run of the suite
    matched_fixed: bool = False  # `fixed` runs at the adaptive arm's mean realised length


SUITES = {
    "quick": Suite(("inverted_pendulum",), ("fixed", "linear", "adaptive", "masked"), 3, 3000,
                   (1000, 2000, 3000), 1000),
    "hopper": Suite(("hopper",), ("linear", "adaptive", "masked"), 3, 15000,
                    (5000, 10000, 15000), 1000),
    # Hopper at MBPO's settings to 20k steps; the k-step diagnostic after every model fit
    # pairs each phase's horizon with its model's true error (docs/results/signal-study).
    "hopper20": Suite(("hopper",), ("adaptive", "linear", "fixed"), 5, 20000,
                      (10000, 15000, 20000), 1000, overrides=("diagnostic_every=250",),
                      matched_fixed=True),
    "full": Suite(("halfcheetah", "hopper", "walker2d"), ("fixed", "linear", "adaptive", "masked"),
                  5, 100000, (20000, 100000), 5000),
}

# Published eval returns at a budget (MBPO's own settings; MACURA's curves), for placement.
ANCHORS = {
    "hopper": {20000: {"MBPO": 521, "MACURA": 2142}, 100000: {"MBPO": 3313, "MACURA": 3431}},
    "halfcheetah": {20000: {"MBPO": 4236, "MACURA": 3645}},
    "inverted_pendulum": {3000: {"target": 1000}},
}

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


@dataclass
class Run:
    env: str
    schedule: str  # the rollout group, plus any override that not every run shares
    seed: int
    scalars: Scalars
    summary: dict | None  # from summary.json once finished
    precision: str = "-"  # as each sitting's train.log line says; see `precision_of`

    @property
    def last_step(self) -> int:
        points = self.scalars.get("eval/return", [])
        return points[-1][0] if points else 0


NOT_GROUPING = {"env", "seed", "rollout", "threads", "device", "resume", "total_steps",
                "checkpoint_every"}
"""Overrides that never make a group of their own: the suite's axes and what its command
sets (a run recorded with another fp32_matmul, say, still reports as its own group)."""


PRECISION = re.compile(r"\| precision sac=(\w+), model_train=(\w+), rollout=(\w+) \|")


def precision_of(run_dir: Path) -> str:
    """What precision=auto became, per sitting: it follows the CPU (bf16 only where the CPU
    has native bf16), so a suite resumed on another machine can mix regimes, and its report
    must say so. "bf16 then fp32" is a run started on one machine and resumed on another."""
    log = run_dir / "train.log"
    seen: list[str] = []
    for found in PRECISION.finditer(log.read_text() if log.is_file() else ""):
        parts = dict(zip(("sac", "model_train", "rollout"), found.groups(), strict=True))
        label = (parts["sac"] if len(set(parts.values())) == 1
                 else ", ".join(f"{k}={v}" for k, v in parts.items()))
        if not seen or seen[-1] != label:
            seen.append(label)
    return " then ".join(seen) or "-"


def precision_counts(runs: list[Run]) -> str:
    counts = collections.Counter(r.precision for r in runs)
    return ", ".join(f"{label} {n} run{'s' * (n != 1)}" for label, n in sorted(counts.items()))


def load_runs(out: Path, suite: Suite) -> list[Run]:
    """Every run under OUT_DIR/runs; runs with extra overrides (an ablation launched by hand
    into the same directory) form groups of their own, labelled by those overrides."""
    runs, extras = [], []
    for overrides_file in sorted((out / "runs").glob("*/.hydra/overrides.yaml")):
        run_dir = overrides_file.parent.parent
        kv = dict(o.lstrip("+~").split("=", 1) for o in yaml.safe_load(overrides_file.read_text()))
        extra = {f"{k}={v}" for k, v in kv.items() if k not in NOT_GROUPING}
        if suite.matched_fixed and kv["rollout"] == "fixed":  # its h is the arm's own
            extra.discard(f"rollout.h={kv.get('rollout.h')}")
        extras.append(extra)
        summary_file = run_dir / "summary.json"
        summary = None
        if summary_file.is_file():
            done = json.loads(summary_file.read_text())
            summary = done["summary"] if done["total_steps"] == suite.total_steps else None
        runs.append(Run(kv["env"], kv["rollout"], int(kv["seed"]), read_scalars(run_dir), summary,
                        precision_of(run_dir)))
    shared = set.intersection(*extras) if extras else set()
    for run, extra in zip(runs, extras, strict=True):
        run.schedule = " ".join([run.schedule, *sorted(extra - shared)])
    return runs


def groups_of(suite: Suite, runs: list[Run]) -> list[str]:
    """The suite's schedules in its order, then any ablation groups found on disk."""
    found = sorted({r.schedule for r in runs} - set(suite.schedules))  # e.g. `none`
    return list(suite.schedules) + found


def groups_present(suite: Suite, runs: list[Run]) -> list[str]:
    """The groups of groups_of that this directory holds runs of."""
    return [g for g in groups_of(suite, runs) if any(r.schedule == g for r in runs)]


def groups_ran(suite: Suite, runs: list[Run]) -> str:
    """The groups this directory holds runs of, counted and named (a subset or ablation
    run is not the whole suite)."""
    ran = groups_present(suite, runs)
    return f"{len(ran)} schedule{'s' * (len(ran) != 1)} ({', '.join(ran)})"


def matched_horizon(out: Path, suite: Suite) -> tuple[int | None, str]:
    """The fixed arm's h: the mean realised length of the adaptive arm, rounded, once every
    seed of it finished; else None and why not."""
    runs = load_runs(out, suite) if (out / "runs").is_dir() else []
    done = [r for r in runs if r.schedule == "adaptive" and r.summary is not None]
    if len(done) < suite.seeds:
        return None, (f"the matched fixed arm waits for the adaptive arm: {len(done)} of "
                      f"{suite.seeds} seeds finished")
    length = float(np.mean([r.summary["mean_length"] for r in done]))
    return max(1, int(np.floor(length + 0.5))), f"mean realised length {length:.2f}"


def auc(run: Run) -> float:
    """The average of all the run's evaluations: a sample-efficiency summary less noisy than
    one evaluation."""
    return float(np.mean([v for _, v in run.scalars["eval/return"]]))


def mean_of(runs: list[Run], tag: str) -> float:
    values = [np.mean([v for _, v in r.scalars[tag]]) for r in runs if r.scalars.get(tag)]
    return float(np.mean(values)) if values else float("nan")


def table(env: str, suite: Suite, runs: list[Run]) -> str:
    head = ["schedule", "finished/started"] + [f"return @{b / 1000:g}k [95% CI] (n)"
                                                 for b in suite.budgets]
    head += ["mean eval return over the run (AUC)", "mean H", "mean realised length",
             "wall time / run (min)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    not_run = []
    for schedule in groups_of(suite, runs):
        group = [r for r in runs if r.env == env and r.schedule == schedule]
        if not group:  # a part of the suite not launched yet, or left out on purpose
            not_run.append(schedule)
            continue
        finished = [r for r in group if r.summary is not None]
        cells = [schedule, f"{len(finished)}/{len(group)}"]
        for budget in suite.budgets:
            values = [v for r in group
                      if (v := value_at(r.scalars.get("eval/return", []), budget)) is not None]
            cells.append(f"{fmt_ci(np.array(values))} ({len(values)})" if values else "-")
        walls = [r.summary["wall_s"] / 60 for r in finished if r.summary.get("wall_s")]
        aucs = [auc(r) for r in finished]
        # like the AUC, over finished runs: a run cut short would weigh its early phases in
        cells += [f"{fmt_ci(np.array(aucs))} ({len(aucs)})" if aucs else "-",
                  f"{mean_of(finished, 'rollout/horizon'):.2f}" if finished else "-",
                  f"{mean_of(finished, 'rollout/mean_length'):.2f}" if finished else "-",
                  f"{np.mean(walls):.1f}" if walls else "-"]
        lines.append("| " + " | ".join(cells) + " |")
    if not_run:
        lines += ["", f"Not run in this directory: {', '.join(not_run)}."]
    anchors = ANCHORS.get(env, {})
    if anchors:
        lines.append("")
        lines.append("Published anchors (eval return at a budget): " + "; ".join(
            f"@{b / 1000:g}k " + ", ".join(f"{k} {v}" for k, v in a.items())
            for b, a in anchors.items()))
    return "\n".join(lines)


def run_table(runs: list[Run]) -> str:
    lines = ["| env | schedule | seed | env steps done | last eval return | precision "
             "| finished |",
             "|---|---|---|---|---|---|---|"]
    for r in sorted(runs, key=lambda r: (r.env, r.schedule, r.seed)):
        points = r.scalars.get("eval/return", [])
        last = f"{points[-1][1]:.1f}" if points else "-"
        lines.append(f"| {r.env} | {r.schedule} | {r.seed} | {r.last_step} | {last} | "
                     f"{r.precision} | {'yes' if r.summary else 'no'} |")
    return "\n".join(lines)


def plot_returns(suite: Suite, runs: list[Run], path: Path) -> None:
    fig, axes = plt.subplots(1, len(suite.envs), figsize=(7 * len(suite.envs), 4.5),
                             squeeze=False)
    for ax, env in zip(axes[0], suite.envs, strict=True):
        finished = {s: [r.scalars for r in runs if r.env == env and r.schedule == s and r.summary]
                    for s in groups_of(suite, runs)}
        band_plot(ax, {s: g for s, g in finished.items() if g}, "eval/return", "eval return")
        for r in runs:  # unfinished runs: thin dashed lines, not averaged into a band
            if r.env == env and r.summary is None and r.scalars.get("eval/return"):
                steps, values = zip(*r.scalars["eval/return"], strict=True)
                ax.plot(steps, values, ls="--", lw=0.8, color="grey")
        for budget, anchor in ANCHORS.get(env, {}).items():
            if budget <= suite.total_steps * 1.4:
                for name, value in anchor.items():
                    ax.plot([budget], [value], "k*", ms=8)
                    ax.annotate(f"{name} {value}", (budget, value), fontsize=7,
                                xytext=(3, 3), textcoords="offset points")
        ax.set_title(f"{env}: mean and 95% CI over finished seeds (grey dashed: unfinished)",
                     fontsize=9)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def pooled(runs: list[Scalars], tag: str) -> tuple[list[int], list[np.ndarray]]:
    """Every step any run logged `tag` at, with the values of the runs that did."""
    by_step: dict[int, list[float]] = {}
    for r in runs:
        for step, value in r.get(tag, []):
            by_step.setdefault(step, []).append(value)
    steps = sorted(by_step)
    return steps, [np.array(by_step[s]) for s in steps]


def default_beta() -> float:
    conf = Path(__file__).resolve().parents[1] / "conf" / "rollout" / "adaptive.yaml"
    return float(yaml.safe_load(conf.read_text())["beta"])


def plot_horizons(suite: Suite, runs: list[Run], path: Path) -> None:
    fig, axes = plt.subplots(len(suite.envs), 3, figsize=(18, 4.2 * len(suite.envs)),
                             squeeze=False)
    for (ax_h, ax_l, ax_v), env in zip(axes, suite.envs, strict=True):
        groups = {s: [r.scalars for r in runs if r.env == env and r.schedule == s]
                  for s in groups_of(suite, runs)}
        groups = {s: g for s, g in groups.items() if g}
        band_plot(ax_h, groups, "rollout/horizon", "horizon H chosen per phase")
        band_plot(ax_l, groups, "rollout/mean_length", "mean realised rollout length")
        every = [r.scalars for r in runs if r.env == env]
        for q, style in (("q10", ":"), ("q50", "-"), ("q90", "--")):
            steps, values = pooled(every, f"rollout/uncertainty_{q}")
            if steps:  # over all schedules and seeds: the median across runs at each step
                ax_v.plot(steps, [np.median(v) for v in values], style, color="k",
                          label=f"{q[1:]}% quantile of start-state Var (median over runs)")
        steps, values = pooled(every, "rollout/uncertainty")
        if steps:
            ax_v.plot(steps, [np.mean(v) for v in values], color="C3",
                      label="mean Var, what adaptive reads (mean over runs)")
        beta = default_beta()
        ax_v.axhline(np.log(2) / beta, color="C0", lw=0.8,
                     label=f"default adaptive (beta={beta:g}): H = h_max / 2 here")
        ax_v.set(xlabel="environment steps", ylabel="Var (standardised target space)",
                 yscale="log", title=f"{env}: start-state Var over training")
        ax_v.grid(alpha=0.3)
        ax_v.legend(fontsize=7)
        ax_h.set_title(f"{env}: horizon per phase")
        if ax_h.get_legend_handles_labels()[0]:
            ax_h.legend(fontsize=8)
        ax_l.set_title(f"{env}: realised length (terminations, masks)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def report(name: str, suite: Suite, out: Path, launched: list[list[str]]) -> Path:
    """OUT_DIR/results.md and its plots, over every run of the suite found there. It names
    the exact command that wrote it and the sweeps that command launched: a suite run over
    several sittings (other arms, seeds or overrides) has each of them in invocations.md."""
    runs = load_runs(out, suite)
    if not runs:
        raise SystemExit(f"no runs under {out / 'runs'}")
    plot_returns(suite, runs, out / "return.png")
    plot_horizons(suite, runs, out / "horizon.png")
    sweeps = ", then ".join(f"`{shlex.join(['python', *c[1:]])}`" for c in launched)
    parts = [
        f"# Learning suite `{name}`\n",
        f"- written by `python {shlex.join(sys.argv)}`, "
        + (f"which launched {sweeps}" if launched else "which launched no runs"),
        f"- report written {datetime.datetime.now().isoformat(timespec='minutes')} at git "
        f"commit {code_commit()} on {machine()}, one torch thread per run; every invocation "
        f"that ran runs (date, commit, command, wall time) is in "
        f"[invocations.md](invocations.md)",
        f"- {suite.seeds} seeds x {groups_ran(suite, runs)}, {suite.total_steps} env "
        f"steps; a cell counts only runs that reached its budget (n); the CI is the 95% "
        f"percentile bootstrap over seeds. AUC, mean H, mean realised length and wall time "
        f"(loop time only): finished runs.",
        f"- precision as the runs ran (precision=auto gives bf16 only on a CPU with native "
        f"bf16): {precision_counts(runs)}\n",
    ]
    for env in suite.envs:
        parts += [f"## {env}\n", table(env, suite, runs), ""]
    parts += ["## Runs\n", run_table(runs), "", "![returns](return.png)",
              "![horizons](horizon.png)", ""]
    path = out / "results.md"
    path.write_text("\n".join(parts))
    return path


def machine() -> str:
    cpu = cpu_name()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{platform.node()} ({cpu}, {cores} cores, torch {torch.__version__})"


def log_invocation(out: Path, started: datetime.datetime, status: str) -> None:
    """Append what ran to OUT_DIR/invocations.md: a suite completed over several sittings
    keeps the date, commit and command of each. A row is written when the sweep starts
    and another when it ends, so a sitting cut short (a killed session) is on record too."""
    path = out / "invocations.md"
    header = "| started | git commit | command | status |\n|---|---|---|---|\n"
    if not path.is_file():
        path.write_text(header)
    elif not path.read_text().startswith(header):  # written before the status column
        with path.open("a") as f:
            f.write("\n" + header)
    with path.open("a") as f:
        f.write(f"| {started.isoformat(timespec='minutes')} | {code_commit()} | "
                f"`python {shlex.join(sys.argv)}` | {status} |\n")


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
    started, tic = datetime.datetime.now(), time.time()
    out.mkdir(parents=True, exist_ok=True)
    log_invocation(out, started, "started")
    code = run_forwarding_stops(command, out / "runs")
    how = f"exit {code}" if code >= 0 else f"stopped by {signal.Signals(-code).name}"
    log_invocation(out, started, f"ended after {(time.time() - tic) / 60:.1f} min, {how}")
    if code != 0:
        print(f"the sweep exited with {code}; reporting what finished", file=sys.stderr)
    return code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", required=True, choices=sorted(SUITES))
    parser.add_argument("out", type=Path)
    parser.add_argument("--jobs", type=int, default=2, help="runs in parallel (1 thread each)")
    parser.add_argument("--schedules", help="comma-separated subset of the suite's schedules "
                        "(e.g. an ablation: --schedules adaptive -- rollout.beta=10)")
    parser.add_argument("--seeds", type=int, help="change the suite's number of seeds")
    parser.add_argument("--steps", type=int, help="change the suite's env steps per run")
    parser.add_argument("--report-only", action="store_true", help="only rewrite the report")
    argv = sys.argv[1:]
    extra = argv[argv.index("--") + 1:] if "--" in argv else []  # Hydra overrides for all runs
    args = parser.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    if args.jobs < 1:
        parser.error(f"--jobs must be >= 1, got {args.jobs}")
    for override in extra:  # each value would map to the same run directory
        key, _, value = override.lstrip("+~").partition("=")
        if key in IDENTITY_FREE and ("," in value or value.startswith(("range(", "choice("))):
            parser.error(f"{override}: {key} leaves what a run computes unchanged, so run "
                         "directories leave it out of their names; give each value its own "
                         "OUT_DIR and compare them with scripts/compare_suites.py")
    suite, out = SUITES[args.suite], args.out.resolve()
    for name, value in (("seeds", args.seeds), ("steps", args.steps)):
        if value is not None and value < 1:
            parser.error(f"--{name} must be >= 1, got {value}")
    if args.seeds is not None:
        suite = dataclasses.replace(suite, seeds=args.seeds)
    if args.steps is not None:
        budgets = tuple(b for b in suite.budgets if b < args.steps) + (args.steps,)
        suite = dataclasses.replace(suite, total_steps=args.steps, budgets=budgets)
    if args.schedules is not None:
        chosen = tuple(args.schedules.split(","))
        options = {p.stem for p in (Path(__file__).resolve().parents[1] / "conf" / "rollout")
                   .glob("*.yaml")}  # the suite's own, or another arm such as `none`
        if not chosen or not set(chosen) <= set(suite.schedules) | options:
            parser.error(f"--schedules must name rollout options ({','.join(sorted(options))}), "
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
