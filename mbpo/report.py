"""Aggregation across seeds for the plotting scripts: mean, 95% bootstrap CI, aligned curves.

scipy (the [plots] extra) is imported only when a CI is computed, so the package itself
does not need it.
"""

from __future__ import annotations

import numpy as np

Scalars = dict[str, list[tuple[int, float]]]


def mean_ci(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over axis 0 and its 95% percentile-bootstrap CI (the mean itself for one seed)."""
    from scipy.stats import bootstrap

    values = np.asarray(values, dtype=float)
    mean = values.mean(axis=0)
    if values.shape[0] < 2:
        return mean, mean, mean
    res = bootstrap((values,), np.mean, axis=0, confidence_level=0.95, n_resamples=2000,
                    method="percentile", random_state=0)
    return mean, res.confidence_interval.low, res.confidence_interval.high


def fmt_ci(values: np.ndarray) -> str:
    """'mean [low, high]' over seeds; just the mean for one seed."""
    values = np.asarray(values, dtype=float).reshape(-1)
    mean, low, high = (float(np.asarray(x).reshape(-1)[0]) for x in mean_ci(values[:, None]))
    return f"{mean:.1f} [{low:.1f}, {high:.1f}]" if values.size > 1 else f"{mean:.1f}"


def aligned(runs: list[Scalars], tag: str) -> tuple[np.ndarray, np.ndarray] | None:
    """Steps logged by every run that has `tag`, and the [runs, steps] values there."""
    series = [dict(r[tag]) for r in runs if tag in r]
    if not series:
        return None
    steps = sorted(set.intersection(*(set(s) for s in series)))
    if not steps:
        return None
    return np.array(steps), np.array([[s[t] for t in steps] for s in series])


def band_plot(ax, groups: dict[str, list[Scalars]], tag: str, ylabel: str) -> None:
    """One line per group (mean over its runs) with its 95% CI band, on a matplotlib axis."""
    for name, runs in groups.items():
        data = aligned(runs, tag)
        if data is None:
            continue
        steps, values = data
        mean, low, high = mean_ci(values)
        line, = ax.plot(steps, mean, label=f"{name} (n={values.shape[0]})")
        ax.fill_between(steps, low, high, color=line.get_color(), alpha=0.2)
    ax.set(xlabel="environment steps", ylabel=ylabel)
    ax.grid(alpha=0.3)


def value_at(points: list[tuple[int, float]], step: int) -> float | None:
    """The last value logged at or before `step`, if the series reached `step`."""
    if not points or points[-1][0] < step:
        return None
    before = [v for s, v in points if s <= step]
    return before[-1] if before else None
