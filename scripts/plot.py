"""Turn runs and sweeps into figures and a table: mean and 95% bootstrap CI across seeds.

Usage: python scripts/plot.py RUN_OR_SWEEP_DIR... [--out DIR]

Finds every run (a directory with a TensorBoard event file) under the given paths, groups
runs by their Hydra overrides other than the seed, and writes into DIR (default: the first
path):
  return.png   eval return vs env steps, one line per group with its 95% CI band;
  horizon.png  rollout horizon and uncertainty vs env steps, per group;
  results.md   final and best eval return per group (mean [95% CI]) and mean horizon.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import matplotlib
import numpy as np
import yaml
from script_args import script_parser

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from mbpo.events import read_scalars  # noqa: E402
from mbpo.report import band_plot, fmt_ci  # noqa: E402

IGNORED_KEYS = ("seed", "threads", "device", "resume", "hydra")


def find_runs(paths: list[Path]) -> list[Path]:
    runs = {p.parent for path in paths for p in path.rglob("events.out.tfevents*")}
    if not runs:
        raise SystemExit(f"no TensorBoard event files under {', '.join(map(str, paths))}")
    return sorted(runs)


def group_of(run_dir: Path) -> str:
    """The run's overrides without the seed (and other non-semantic keys)."""
    overrides_file = run_dir / ".hydra" / "overrides.yaml"
    if not overrides_file.is_file():
        return run_dir.name
    overrides = yaml.safe_load(overrides_file.read_text()) or []
    kept = [o for o in overrides if not o.lstrip("+~").split("=")[0].startswith(IGNORED_KEYS)]
    return " ".join(sorted(kept)) or "defaults"


def table(groups: dict[str, list[dict]]) -> str:
    lines = ["| group | seeds | final return [95% CI] | best return [95% CI] | mean horizon |",
             "|---|---|---|---|---|"]
    for name, runs in groups.items():
        finals = np.array([r["eval/return"][-1][1] for r in runs if "eval/return" in r])
        bests = np.array([max(v for _, v in r["eval/return"]) for r in runs if "eval/return" in r])
        horizons = [np.mean([v for _, v in r["rollout/horizon"]]) for r in runs
                    if "rollout/horizon" in r]
        if finals.size == 0:
            continue
        horizon = f"{np.mean(horizons):.2f}" if horizons else "-"
        lines.append(f"| {name} | {finals.size} | {fmt_ci(finals)} | {fmt_ci(bests)} | {horizon} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = script_parser(__doc__)
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    out = args.out or args.paths[0]
    out.mkdir(parents=True, exist_ok=True)
    by_overrides: dict[str, list[dict]] = defaultdict(list)
    for run in find_runs(args.paths):
        by_overrides[group_of(run)].append(read_scalars(run))
    # Label groups by what differs between them; what all share goes in the titles.
    shared = set.intersection(*(set(name.split()) for name in by_overrides))
    groups = {" ".join(o for o in name.split() if o not in shared) or "all runs": runs
              for name, runs in by_overrides.items()}
    common = " ".join(sorted(shared))

    fig, ax = plt.subplots(figsize=(8, 5))
    band_plot(ax, groups, "eval/return", "eval return (deterministic policy)")
    ax.set_title("Eval return: mean and 95% bootstrap CI over seeds"
                 + (f"\n{common}" if common else ""), fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "return.png", dpi=120)
    plt.close(fig)

    fig, (ax_h, ax_u) = plt.subplots(1, 2, figsize=(12, 4.5))
    band_plot(ax_h, groups, "rollout/horizon", "rollout horizon H")
    band_plot(ax_u, groups, "rollout/uncertainty", "mean Var of start states (standardised)")
    ax_h.set_title("Horizon per rollout phase")
    ax_u.set_title("Ensemble uncertainty per rollout phase")
    ax_u.set_yscale("log")
    ax_h.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "horizon.png", dpi=120)
    plt.close(fig)

    (out / "results.md").write_text((f"Common settings: `{common}`\n\n" if common else "")
                                    + table(groups))
    print(f"wrote {out / 'return.png'}, {out / 'horizon.png'}, {out / 'results.md'}")


if __name__ == "__main__":
    main()
