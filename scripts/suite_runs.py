"""The runs a suite directory holds, read back from disk: each run's overrides, eval curve,
summary.json once finished and the precision each sitting ran in. Shared by the suite report,
the matched fixed arm's horizon and `scripts/compare_suites.py`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from suites import Suite

from mbpo.events import read_scalars
from mbpo.report import Scalars


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

