"""The benchmark's loop section: a whole training run's steady-state env steps/s, with the
share of each phase and peak memory, at MBPO's Hopper and the peer's HalfCheetah settings."""

from __future__ import annotations

import os
import resource
import tempfile
from pathlib import Path

from bench_timing import DTYPES
from peak_rss import reset_peak_rss

from mbpo.precision import resolve_precision

# row label -> overrides: each precision for all three components (SAC, model training,
# rollouts), whatever precision=auto would pick on the machine
LOOP_PRECISIONS = {p: [f"precision={p}"] for p in DTYPES}


def resident_gib() -> float:
    """Resident memory now (Linux; NaN elsewhere). A loop row's peak counts what the
    process still held from earlier sections, which malloc_trim could not hand back; this,
    taken at the loop's start, says how much that was."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return float("nan")
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**30


def bench_loop(device, quick, label: str) -> list[dict]:
    from hydra import compose, initialize_config_dir

    from mbpo.config import CONF_DIR, register_configs
    from mbpo.events import read_scalars
    from mbpo.logger import RunLogger
    from mbpo.loop import run_mbpo
    from mbpo.train import build, run_settings, seed_everything, start_state

    register_configs()
    conf = str(CONF_DIR)
    # Steady state: the first window after the random steps holds the cold first model fit
    # and is discarded; the measured windows each start with a warm model fit and rollout.
    window, measured = 250, (1 if quick else 2)
    cases = {
        "Hopper-v5, MBPO settings (G=20, SAC 2x256, linear schedule)":
            ["env=hopper", "rollout=linear"],
        "HalfCheetah-v5, peer settings (G=10, SAC 2x512, H=1)":
            ["env=halfcheetah", "rollout=fixed", "rollout.h=1", "updates_per_step=10",
             "agent.hidden_size=512"],
    }
    rows = []
    for name, overrides in cases.items():
        with initialize_config_dir(config_dir=conf, version_base=None):
            cfg = compose(config_name="config", overrides=overrides + [
                f"total_steps={5000 + (1 + measured) * window}", f"eval_every={window}",
                "eval_episodes=1", f"log_every={window}", *LOOP_PRECISIONS[label]])
        settings = run_settings(cfg)
        precision = resolve_precision(cfg.precision.value, device, cfg.bf16_components)
        # Seeded as a training run is: the same data and the same fits (so the same
        # early-stopping epochs) in every benchmark run, whose windows then differ in speed only.
        seed_everything(cfg.seed)
        # The loop run's own peak, as in a training process, not earlier sections'.
        rss_scope = ("this loop run" if reset_peak_rss(release_freed=True)
                     else "the benchmark process so far")
        rss_at_start = resident_gib()
        components = build(cfg, device, settings, precision)
        state = start_state(components, cfg.seed)
        with tempfile.TemporaryDirectory() as tmp:
            log = RunLogger(Path(tmp), console=True)
            run_mbpo(components, settings, log, state)
            log.close()
            perf = {k.split("/")[1]: [v for _, v in series[-measured:]]
                    for k, series in read_scalars(tmp).items() if k.startswith("perf/")}
        total = sum(window / v for v in perf["env_steps_per_s"])
        spent = {k: sum(perf[k]) for k in ("model_train_s", "rollout_s", "sac_s")}
        rows.append({"name": name, "precision": label, "components": precision.describe(),
                     "env_steps_per_s": measured * window / total,
                     "window_env_steps": measured * window,
                     "share_model_train": spent["model_train_s"] / total,
                     "share_rollout": spent["rollout_s"] / total,
                     "share_sac": spent["sac_s"] / total,
                     "share_env_and_other": 1 - sum(spent.values()) / total,
                     "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
                     "peak_rss_of": rss_scope, "rss_at_start_gib": rss_at_start})
        del components, state  # before the next case's peak count starts
    return rows
