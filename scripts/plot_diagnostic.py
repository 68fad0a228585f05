"""Plot the uncertainty diagnostic of a run: true k-step error and predicted Var against k.

Usage: python scripts/plot_diagnostic.py RUN_DIR [--out PNG]

Reads the run's `diag/kstep_error/k` and `diag/uncertainty/k` scalars back from its event
file and draws one line per diagnostic (coloured by env step), so one can see whether the
ensemble's disagreement grows with the horizon the way its real error does.
"""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib
from script_args import script_parser

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from mbpo.events import read_scalars  # noqa: E402


def by_step(scalars: dict, prefix: str) -> dict[int, dict[int, float]]:
    """{env step: {k: value}} for tags prefix/k."""
    out: dict[int, dict[int, float]] = {}
    for tag, points in scalars.items():
        match = re.fullmatch(rf"{prefix}/(\d+)", tag)
        if match:
            for step, value in points:
                out.setdefault(step, {})[int(match.group(1))] = value
    return out


def plot(run_dir: Path, out: Path) -> Path:
    scalars = read_scalars(run_dir)
    errors = by_step(scalars, "diag/kstep_error")
    variances = by_step(scalars, "diag/uncertainty")
    if not errors:
        raise SystemExit(f"{run_dir} has no diag/kstep_error scalars (diagnostic_every=0?)")
    spearman = dict(scalars.get("diag/uncertainty_error_spearman", []))
    fig, (ax_err, ax_var) = plt.subplots(1, 2, figsize=(11, 4.2))
    cmap = plt.get_cmap("viridis")
    steps = sorted(errors)
    for i, step in enumerate(steps):
        color = cmap(i / max(len(steps) - 1, 1))
        ks = sorted(errors[step])
        label = f"step {step}" + (f" (rho {spearman[step]:.2f})" if step in spearman else "")
        ax_err.plot(ks, [errors[step][k] for k in ks], "o-", color=color, label=label)
        ks = sorted(variances.get(step, {}))
        ax_var.plot(ks, [variances[step][k] for k in ks], "o-", color=color)
    ax_err.set(title="True open-loop error on held-out real steps", xlabel="k (model steps)",
               ylabel="k-step MSE (standardised units)", yscale="log")
    ax_var.set(title="Predicted epistemic variance", xlabel="k (model steps)",
               ylabel="Var of member means (standardised)", yscale="log")
    ax_err.legend(fontsize=7, title="env step (Spearman)", title_fontsize=7)
    fig.suptitle(f"Uncertainty vs model error: {run_dir.name}")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def main() -> None:
    parser = script_parser(__doc__)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--out", type=Path, default=None, help="default: RUN_DIR/diagnostic.png")
    args = parser.parse_args()
    print(plot(args.run_dir, args.out or args.run_dir / "diagnostic.png"))


if __name__ == "__main__":
    main()
