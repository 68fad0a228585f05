"""Is one group of seeded runs better than another, or is the gap noise?

Usage: python scripts/compare_suites.py DIR_A DIR_B --suite quick [--steps N]
           [--group adaptive] [--group-b GROUP] [--solved 1000] [--out FILE.md]

Two groups of one suite directory compare with DIR_A = DIR_B, e.g.
`compare_suites.py D D --suite hopper20 --group linear --group-b adaptive`.

DIR_A and DIR_B are `scripts/bench_learning.py` output directories (or any with the same
runs/ layout), e.g. a control and a variant run with the same seeds. Over the finished runs
of the group in each, prints per seed the final eval return and the AUC (mean eval return
over the run), then the two-sided tests a pre-registered rule can name:
  AUC:    permutation test on the difference of means (scipy.stats.permutation_test),
          Mann-Whitney U;
  solved: seeds whose final eval return reached --solved (default: the env's target in
          scripts/suites.py's ANCHORS), Fisher's exact test.
--out also writes what is printed to a markdown file, under the exact command, the date, the
commit and the machine, so a committed comparison is one command to re-create. It is
written only when every test ran.
Unpaired: runs that differ in anything diverge after their first update, so a seed
number links the two groups only by their first steps.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from provenance import own_command, written_at
from scipy import stats
from script_args import finite_number, script_parser, whole_number
from suite_runs import auc, groups_present, load_runs
from suites import ANCHORS, SUITES, Suite

from mbpo.report import fmt_ci


@dataclass(frozen=True)
class Comparison:
    auc_diff: float  # mean AUC of B minus that of A
    auc_permutation_p: float
    auc_mannwhitney_p: float
    solved_a: int
    solved_b: int
    solved_fisher_p: float


def compare(auc_a: np.ndarray, auc_b: np.ndarray, solved_a: np.ndarray,
            solved_b: np.ndarray, seed: int = 0) -> Comparison:
    """Two-sided tests of B against A; `solved_*` are per-seed booleans."""
    auc_a, auc_b = np.asarray(auc_a, float), np.asarray(auc_b, float)
    diff = lambda a, b, axis: np.mean(b, axis=axis) - np.mean(a, axis=axis)  # noqa: E731
    perm = stats.permutation_test((auc_a, auc_b), diff, vectorized=True, n_resamples=100_000,
                                  alternative="two-sided", random_state=seed)
    mwu = stats.mannwhitneyu(auc_a, auc_b, alternative="two-sided")
    sa, sb = int(np.sum(solved_a)), int(np.sum(solved_b))
    table = [[sa, len(solved_a) - sa], [sb, len(solved_b) - sb]]
    fisher = stats.fisher_exact(table, alternative="two-sided")
    return Comparison(float(diff(auc_a, auc_b, None)), float(perm.pvalue), float(mwu.pvalue),
                      sa, sb, float(fisher.pvalue))


def finished_group(out: Path, suite: Suite, group: str) -> dict[tuple[str, int], tuple]:
    """(env, seed) -> (final eval return, AUC) over the group's runs that reached the
    suite's total_steps."""
    runs = load_runs(out, suite)
    found = {(r.env, r.seed): (r.scalars["eval/return"][-1][1], auc(r)) for r in runs
             if r.schedule == group and r.summary is not None}
    if not found:
        raise SystemExit(
            f"{out}: no runs of group {group!r} finished at {suite.total_steps} steps; groups "
            f"there: {', '.join(groups_present(suite, runs)) or 'none'} (--group; --steps if the "
            "suite's steps were changed)")
    return found


def main() -> None:
    parser = script_parser(__doc__)
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    parser.add_argument("--suite", required=True, choices=sorted(SUITES))
    parser.add_argument("--steps", type=whole_number(1), help="the suites' env steps per run, if changed")
    parser.add_argument("--group", default="adaptive", help="schedule (or ablation group)")
    parser.add_argument("--group-b", help="the group in DIR_B, if not --group")
    parser.add_argument("--solved", type=finite_number(), help="final eval return that counts as solved")
    parser.add_argument("--out", type=Path, help="also write the comparison to this .md file")
    args = parser.parse_args()
    if args.out is not None and args.out.suffix != ".md":
        parser.error(f"--out must name a .md file, got {args.out}")
    group_b = args.group_b or args.group
    suite = SUITES[args.suite]
    if args.steps is not None:
        suite = dataclasses.replace(suite, total_steps=args.steps)
    lines: list[str] = []

    def say(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    a = finished_group(args.a, suite, args.group)
    b = finished_group(args.b, suite, group_b)
    envs = sorted({env for env, _ in [*a, *b]})
    for env in envs:
        target = args.solved if args.solved is not None else max(
            (v.get("target", -np.inf) for v in ANCHORS.get(env, {}).values()), default=-np.inf)
        rows_a = {s: v for (e, s), v in a.items() if e == env}
        rows_b = {s: v for (e, s), v in b.items() if e == env}
        say(f"## {env}: A = {args.a} group {args.group} ({len(rows_a)} runs), "
            f"B = {args.b} group {group_b} ({len(rows_b)} runs)\n")
        say("| seed | A final | A AUC | B final | B AUC |\n|---|---|---|---|---|")
        for seed in sorted({*rows_a, *rows_b}):
            cells = [f"{x:.1f}" for v in (rows_a.get(seed), rows_b.get(seed))
                     for x in (v if v else (np.nan, np.nan))]
            say(f"| {seed} | " + " | ".join(cells) + " |")
        auc_a = np.array([v[1] for v in rows_a.values()])
        auc_b = np.array([v[1] for v in rows_b.values()])
        if min(len(auc_a), len(auc_b)) < 2:
            raise SystemExit(f"{env}: the tests need at least 2 finished runs per group "
                             f"(A has {len(auc_a)}, B {len(auc_b)})")
        result = compare(auc_a, auc_b, np.array([v[0] >= target for v in rows_a.values()]),
                         np.array([v[0] >= target for v in rows_b.values()]))
        say(f"\nAUC: A {fmt_ci(auc_a)}, B {fmt_ci(auc_b)} (mean [95% bootstrap CI]); "
            f"B - A = {result.auc_diff:.1f}, B / A = {auc_b.mean() / auc_a.mean():.2f}x; "
            f"permutation p = {result.auc_permutation_p:.3f}, "
            f"Mann-Whitney p = {result.auc_mannwhitney_p:.3f}")
        if np.isfinite(target):
            say(f"solved (final return >= {target:g}): A {result.solved_a} of {len(auc_a)}, "
                f"B {result.solved_b} of {len(auc_b)}; Fisher p = "
                f"{result.solved_fisher_p:.3f}\n")
    if args.out is not None:
        write_record(args.out, lines)


def write_record(path: Path, lines: list[str]) -> None:
    """The printed comparison under the command that made it and where it ran."""
    head = ["# Comparison of seed groups\n",
            f"Written {written_at()} by\n",
            f"```\n{own_command()}\n```\n"]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([*head, *lines, ""]))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
