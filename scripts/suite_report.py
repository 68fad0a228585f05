"""A suite directory's report: results.md (returns at each budget with 95% CIs, AUC, horizon,
runs) and its plots, return.png and horizon.png, written from the runs' event files alone.
"""

from __future__ import annotations

import collections
import shlex
from pathlib import Path

import matplotlib
import numpy as np
import yaml

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from provenance import own_command, written_at  # noqa: E402
from suite_runs import Run, auc, groups_of, groups_ran, load_runs, mean_of  # noqa: E402
from suites import ANCHORS, Suite  # noqa: E402

from mbpo.config import CONF_DIR  # noqa: E402
from mbpo.report import Scalars, band_plot, fmt_ci, value_at  # noqa: E402


def precision_counts(runs: list[Run]) -> str:
    counts = collections.Counter(r.precision for r in runs)
    return ", ".join(f"{label} {n} run{'s' * (n != 1)}" for label, n in sorted(counts.items()))


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
    return float(yaml.safe_load((CONF_DIR / "rollout" / "adaptive.yaml").read_text())["beta"])


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
    sweeps = ", then ".join(f"`python {shlex.join(c[1:])}`" for c in launched)
    parts = [
        f"# Learning suite `{name}`\n",
        f"- written by `{own_command()}`, "
        + (f"which launched {sweeps}" if launched else "which launched no runs"),
        f"- report written {written_at()}, one torch thread per run; every invocation "
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

