"""Which uncertainty signal tracks the model's true multi-step error? Read from runs' events.

Every run logs each phase's signals (rollout/signal_*, mbpo/probe.py) and, with
diagnostic_every = model_train_freq, the true k-step error of each fitted model on the
real steps taken after its fit (diag/kstep_error/k, mbpo/diagnostic.py). A phase's signal
at step p is paired with the error measured at p + model_train_freq: the same model, on
data it was not fitted on. Reported per run and pooled per env: the Spearman rank
correlation of each signal with the k-step error (k = the probe's horizon by default), and,
for one signal and (beta, h_min, h_max), the horizon the adaptive rule would have chosen,
its range and its rank correlation with the error.

Usage: python scripts/signal_study.py RUN_DIR [RUN_DIR ...] [--out DIR] [--k 15]
       [--signal rollout --beta 60 --h-min 1 --h-max 15]
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr
from script_args import finite_number, script_parser, whole_number

from mbpo.events import read_scalars
from mbpo.uncertainty import SIGNALS


def paired(run_dir: Path, k: int, freq: int) -> dict[str, np.ndarray]:
    """{"step", "error", signal...}: phases whose model's k-step error was measured."""
    scalars = read_scalars(run_dir)
    error = dict(scalars.get(f"diag/kstep_error/{k}", []))
    signals = {n: dict(scalars.get(f"rollout/signal_{n}", [])) for n in SIGNALS}
    steps = [p for p in sorted(signals["start"]) if p + freq in error
             and math.isfinite(error[p + freq])]
    out = {"step": np.array(steps), "error": np.array([error[p + freq] for p in steps])}
    out.update({n: np.array([signals[n].get(p, np.nan) for p in steps]) for n in SIGNALS})
    return out


def rule(signal: np.ndarray, beta: float, h_min: int, h_max: int) -> np.ndarray:
    """The adaptive rule as mbpo.schedules.adaptive_horizon computes it."""
    h = np.floor(h_max * np.exp(-beta * signal) + 0.5)
    return np.clip(np.where(np.isfinite(h), h, h_min), h_min, h_max)


def rho(x: np.ndarray, y: np.ndarray) -> float:
    ok = np.isfinite(x) & np.isfinite(y)
    return float(spearmanr(x[ok], y[ok]).statistic) if ok.sum() > 2 else float("nan")


def env_of(run_dir: Path) -> str:
    config = run_dir / ".hydra" / "config.yaml"
    for line in config.read_text().splitlines() if config.is_file() else []:
        if line.strip().startswith("id:"):
            return line.split(":", 1)[1].strip()
    return run_dir.name


def plot(runs: dict[str, dict[str, np.ndarray]], k: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(runs), 1, figsize=(9, 3.2 * len(runs)), squeeze=False)
    for ax, (name, data) in zip(axes[:, 0], runs.items()):
        for signal in SIGNALS:
            ax.plot(data["step"], data[signal], label=f"signal {signal}")
        ax.set_yscale("log")
        ax.set_ylabel("signal")
        twin = ax.twinx()
        twin.plot(data["step"], data["error"], "k--", label=f"true {k}-step error")
        twin.set_yscale("log")
        twin.set_ylabel(f"{k}-step error")
        ax.set_title(name)
        lines = ax.get_legend_handles_labels()
        more = twin.get_legend_handles_labels()
        ax.legend(lines[0] + more[0], lines[1] + more[1], fontsize=7, loc="upper right")
    axes[-1, 0].set_xlabel("env steps (phase of the fitted model)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = script_parser(__doc__)
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=None, help="write report.md and plots")
    parser.add_argument("--k", type=whole_number(1), default=15, help="k of the true k-step error")
    parser.add_argument("--freq", type=whole_number(1), default=250, help="model_train_freq of the runs")
    parser.add_argument("--signal", default="rollout", choices=SIGNALS)
    parser.add_argument("--beta", type=finite_number(0), default=None)
    parser.add_argument("--h-min", type=whole_number(1), default=1)
    parser.add_argument("--h-max", type=whole_number(1), default=15)
    args = parser.parse_args()
    if args.h_min > args.h_max:
        parser.error(f"--h-min ({args.h_min}) must be <= --h-max ({args.h_max})")

    runs = {f"{env_of(r)} {r.name}": paired(r, args.k, args.freq) for r in args.runs}
    lines = [f"Spearman rank correlation of each phase's signal with its model's true "
             f"{args.k}-step error (held-out real steps), per run and pooled per env.", "",
             "| run | phases | " + " | ".join(SIGNALS) + " |",
             "|---|---|" + "---|" * len(SIGNALS)]
    pooled: dict[str, dict[str, list[np.ndarray]]] = {}
    for name, data in runs.items():
        lines.append(f"| {name} | {len(data['step'])} | "
                     + " | ".join(f"{rho(data[s], data['error']):+.2f}" for s in SIGNALS) + " |")
        env = pooled.setdefault(name.split()[0], {s: [] for s in (*SIGNALS, "error")})
        for s in (*SIGNALS, "error"):
            env[s].append(data[s])
    for env, data in pooled.items():
        error = np.concatenate(data["error"])
        lines.append(f"| **{env} pooled** | {len(error)} | "
                     + " | ".join(f"{rho(np.concatenate(data[s]), error):+.2f}" for s in SIGNALS)
                     + " |")
    lines += ["", "Signal ranges (min / median / max over phases):", ""]
    for name, data in runs.items():
        lines.append(f"- {name}: " + "; ".join(
            f"{s} {np.nanmin(data[s]):.3g} / {np.nanmedian(data[s]):.3g} / {np.nanmax(data[s]):.3g}"
            for s in SIGNALS))
    if args.beta is not None:
        lines += ["", f"Horizon the rule would choose from `{args.signal}` with beta = "
                      f"{args.beta:g}, h_min = {args.h_min}, h_max = {args.h_max}:", "",
                  "| run | H range | mean H | Spearman(H, error) |", "|---|---|---|---|"]
        for name, data in runs.items():
            h = rule(data[args.signal], args.beta, args.h_min, args.h_max)
            lines.append(f"| {name} | {h.min():.0f}-{h.max():.0f} | {h.mean():.1f} | "
                         f"{rho(h, data['error']):+.2f} |")
    report = "\n".join(lines)
    print(report)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "report.md").write_text(report + "\n")
        plot(runs, args.k, args.out / "signals.png")


if __name__ == "__main__":
    main()
