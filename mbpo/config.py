"""The top-level run settings: their types, defaults and rules, in one place.

`RunConfig` is the Hydra schema (typos and bad types fail at composition), the settings
object the loop reads, and, through each field's `identity` mark, the list of settings that
leave what a run computes unchanged (a resume may change them; run directory names leave
them out). Component groups (env, model, agent, rollout) stay plain YAML and validate in
their constructors; the loop settings default to the chosen env's paper values through
interpolation, so `env=hopper` alone gives MBPO's Hopper run.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import Enum
from pathlib import Path
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import II, MISSING, DictConfig, OmegaConf

from mbpo.checks import check_finite, check_positive

_PACKAGE = Path(__file__).resolve().parent
CONF_DIR = _PACKAGE / "conf" if (_PACKAGE / "conf").is_dir() else _PACKAGE.parent / "conf"
"""The Hydra config groups: conf/ in a source checkout, mbpo/conf/ in an installed wheel."""


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class Precision(str, Enum):
    auto = "auto"
    fp32 = "fp32"
    bf16 = "bf16"


class Objective(str, Enum):
    auc = "auc"
    final = "final"
    best = "best"
    last_k_mean = "last_k_mean"


class Fp32Matmul(str, Enum):
    auto = "auto"
    mkl = "mkl"
    onednn = "onednn"


def free(default: Any) -> Any:
    """A setting that leaves a run's identity unchanged: what the run computes (speed,
    logging, bookkeeping, where it stops). Left out of the config fingerprint and of run
    directory names."""
    return field(default=default, metadata={"identity": False})


@dataclass
class RunConfig:
    seed: int = 0
    """Seeds python, numpy, torch and both envs once at start."""
    device: Device = free(Device.auto)
    """auto = CUDA when present, else CPU."""
    precision: Precision = Precision.auto
    """fp32; bf16 (autocast matmuls in bf16_components); auto: bf16 only where native and
    only for the components a learning check cleared (all three; docs/precision.md)."""
    bf16_components: list[str] = field(
        default_factory=lambda: ["sac", "model_train", "rollout"])
    """Which of sac, model_train, rollout precision=bf16 runs in bf16."""
    fp32_matmul: Fp32Matmul = free(Fp32Matmul.mkl)
    """CPU backend of the fp32 matmuls: mkl (PyTorch's default), or auto / onednn (oneDNN
    where a start-up probe shows it stays fp32, else MKL; 1.2-1.8x per fp32 SAC update on
    an AMD Zen 5). Not the default: it buys bf16 runs little; in their 20-seed check the gap
    to MKL was noise (p = 0.27; docs/results/shapes-check)."""
    row_padding: bool = free(True)
    """Pad the rows of rollout steps (to multiples of 64) and holdout checks (256) with
    zero rows, sliced off: oneDNN, which runs every bf16 matmul on a CPU, caches a primitive
    per matmul shape, so without it a run's memory grows with every new row count
    (mbpo/shapes.py). Ten seeded runs were identical with and without it
    (docs/results/shapes-check)."""
    threads: int = free(0)
    """torch intra-op threads; 0 keeps torch's default (all cores). Use 1 per job in sweeps."""

    total_steps: int = free(II("env.total_steps"))
    """Real environment steps, including the random initial ones."""
    init_steps: int = II("env.init_steps")
    """Steps with uniformly random actions before the first model training."""
    epoch_length: int = II("env.epoch_length")
    """Env steps per MBPO epoch; the linear schedule counts epochs after init_steps."""
    model_train_freq: int = II("env.model_train_freq")
    """Train the ensemble and roll it out every this many env steps."""
    updates_per_step: int = II("env.updates_per_step")
    """G: SAC gradient updates per real env step."""
    rollout_batch_size: int = 100_000
    """Start states per rollout phase."""
    rollout_chunk_size: int = 2048
    """Start states rolled out together; bounds activations to stay cache-sized."""
    model_retain_epochs: int = II("env.model_retain_epochs")
    """Epochs of synthetic data the model buffer keeps (its capacity follows the horizon)."""
    real_ratio: float = 0.05
    """Fraction of each SAC batch drawn from real transitions."""

    eval_every: int = II("env.epoch_length")
    """Env steps between deterministic evaluations."""
    eval_episodes: int = free(5)
    """Episodes per evaluation, on a separate env instance."""
    log_every: int = free(250)
    """Env steps between SAC metric logs (each log costs one host sync)."""
    diagnostic_every: int = 1000
    """Env steps between k-step error vs uncertainty diagnostics (diag/*); 0 turns it off."""
    probe_size: int = 2048
    """Start states of the uncertainty probe: each phase rolls this many out for the
    schedule's longest horizon and logs every signal (rollout/signal_*; mbpo/probe.py);
    0 = off. rollout=adaptive with a probe signal needs it."""
    checkpoint_every: int = free(5000)
    """Env steps between checkpoints; one is also written at the end and on SIGINT/SIGTERM."""
    resume: Optional[str] = free(None)  # noqa: UP045 (OmegaConf needs Optional here)
    """true: continue this run dir's checkpoint; auto: that, or a fresh start where there is
    none; PATH: a run dir or checkpoint file."""
    overwrite: bool = free(False)
    """Let a new run replace the run already in its directory (its events, checkpoint,
    summary and recorded config). Without it such a run is refused before any write."""
    max_skipped_updates: int = free(1000)
    """Stop (exit status 3) once this many SAC updates in a row were skipped for non-finite
    losses: training has collapsed. 0 = never."""
    max_rolled_back_fits: int = free(3)
    """Stop (exit status 3) once this many model fits in a row were rolled back for
    non-finite losses. 0 = never."""

    objective: Objective = free(Objective.auc)
    """What a run returns to a sweeper (Optuna maximises it): auc (mean of all evaluations,
    the default: one evaluation is the noisiest figure a run has), final, best, or
    last_k_mean (mean of the last 5 evaluations)."""

    env: Any = MISSING
    model: Any = MISSING
    agent: Any = MISSING
    rollout: Any = MISSING
    experiment: Any = None


IDENTITY_FREE = tuple(f.name for f in fields(RunConfig) if f.metadata.get("identity") is False)
"""The settings marked `free`: a resumed run may change them."""

SEED_LIMIT = 2**32 - 1
"""numpy's seeds are 32-bit; the eval env is seeded with seed + 1_000_000."""


def validate_run_settings(cfg: Any) -> None:
    """The top-level settings' own rules (the schema checks their types; the groups check
    theirs in their constructors). Raises ValueError naming the field, value and range."""
    unknown = sorted(set(cfg) - set(RunConfig.__dataclass_fields__) - {"hydra"})
    if unknown:
        raise ValueError(f"{unknown[0]} is not a setting; the top-level settings are "
                         f"{', '.join(RunConfig.__dataclass_fields__)} (README, Configuration)")
    for name in ("total_steps", "epoch_length", "model_train_freq", "updates_per_step",
                 "rollout_batch_size", "rollout_chunk_size", "model_retain_epochs",
                 "eval_every", "eval_episodes", "log_every", "checkpoint_every"):
        check_positive(name, cfg[name])
    for name in ("diagnostic_every", "probe_size", "threads", "max_skipped_updates",
                 "max_rolled_back_fits"):
        check_positive(name, cfg[name], minimum=0)
    if not 0 <= cfg.seed <= SEED_LIMIT - 1_000_000:
        raise ValueError(f"seed must be in [0, {SEED_LIMIT - 1_000_000}], got {cfg.seed}")
    if not 1 <= cfg.init_steps < cfg.total_steps:
        raise ValueError(f"init_steps must be in [1, total_steps={cfg.total_steps}) (the "
                         f"first model fit needs real data), got {cfg.init_steps}")
    if not 0.0 <= cfg.real_ratio <= 1.0:
        raise ValueError(f"real_ratio must be in [0, 1], got {cfg.real_ratio}")


def run_settings(cfg: DictConfig) -> RunConfig:
    """The run's settings as a `RunConfig`, after every top-level setting and number is
    checked (component groups stay plain dicts)."""
    check_finite(OmegaConf.to_container(cfg, resolve=True, enum_to_str=True))
    validate_run_settings(cfg)
    return OmegaConf.to_object(cfg)


def register_configs() -> None:
    """The schema for Hydra, and `${mbpo_identity_free:}` for conf/config.yaml's run
    directory names."""
    ConfigStore.instance().store(name="run_schema", node=RunConfig)
    OmegaConf.register_new_resolver("mbpo_identity_free", lambda: list(IDENTITY_FREE),
                                    replace=True)
