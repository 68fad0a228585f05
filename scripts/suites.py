"""The learning suites (envs x schedules x seeds at a budget) and the published returns
they are placed against. `scripts/bench_learning.py` runs them; `suite_runs` reads what they
left on disk.
"""

from __future__ import annotations

from dataclasses import dataclass


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
