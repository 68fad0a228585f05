"""Entry point: `python -m mbpo.train env=halfcheetah rollout=adaptive`.

`train(cfg, run_dir)` is a plain function (tests call it in-process); `main` is the thin
Hydra wrapper that returns the final eval return for sweeps to optimise.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import hydra
import numpy as np
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from mbpo import fp32_matmul
from mbpo.allocator import keep_freed_memory
from mbpo.buffer import TransitionBuffer
from mbpo.checkpoint import (
    CHECKPOINT_NAME,
    CheckpointError,
    capture_run,
    config_fingerprint,
    load_checked,
    restore_run,
    save_atomic,
)
from mbpo.config import register_configs
from mbpo.envs import make_env, termination_fn
from mbpo.logger import RunLogger
from mbpo.loop import Components, LoopSettings, LoopState, run_mbpo
from mbpo.model_training import HOLDOUT_ROW_MULTIPLE
from mbpo.precision import PrecisionPlan, resolve_precision

register_configs()


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device=cuda was requested but torch finds no CUDA device")
    return torch.device(name)


def loop_settings(cfg: DictConfig) -> LoopSettings:
    settings = LoopSettings(**{f: cfg[f] for f in LoopSettings.__dataclass_fields__})
    positive = ["total_steps", "epoch_length", "model_train_freq", "updates_per_step",
                "rollout_batch_size", "rollout_chunk_size", "model_retain_epochs",
                "eval_every", "eval_episodes", "log_every", "checkpoint_every"]
    for name in positive:
        if getattr(settings, name) < 1:
            raise ValueError(f"{name} must be >= 1, got {getattr(settings, name)}")
    if not 1 <= settings.init_steps < settings.total_steps:
        raise ValueError(f"init_steps must be in [1, total_steps={settings.total_steps}) (the "
                         f"first model fit needs real data), got {settings.init_steps}")
    if settings.probe_size < 0:
        raise ValueError(f"probe_size must be >= 0 (0 = off), got {settings.probe_size}")
    if settings.diagnostic_every < 0:
        raise ValueError(f"diagnostic_every must be >= 0 (0 = off), got {settings.diagnostic_every}")
    if not 0.0 <= settings.real_ratio <= 1.0:
        raise ValueError(f"real_ratio must be in [0, 1], got {settings.real_ratio}")
    return settings


def build(cfg: DictConfig, device: torch.device, settings: LoopSettings,
          precision: PrecisionPlan | None = None) -> Components:
    """Instantiate every component; run-time sizes go in as arguments, never into cfg."""
    precision = precision or PrecisionPlan()
    env_kwargs = OmegaConf.to_container(cfg.env.kwargs, resolve=True)
    env = make_env(cfg.env.id, env_kwargs)
    eval_env = make_env(cfg.env.id, env_kwargs)
    obs_dim = env.observation_space.shape[0]
    act_dim = env.action_space.shape[0]
    model = instantiate(cfg.model.ensemble, obs_dim=obs_dim, act_dim=act_dim).to(device)
    trainer = instantiate(cfg.model.trainer, model=model, bf16=precision.model_train,
                          holdout_row_multiple=HOLDOUT_ROW_MULTIPLE if settings.row_padding else 1)
    agent = instantiate(cfg.agent, obs_dim=obs_dim, act_dim=act_dim,
                        action_low=env.action_space.low, action_high=env.action_space.high,
                        bf16=precision.sac, device=device)
    schedule = instantiate(cfg.rollout)
    if schedule.needs_uncertainty and model.ensemble_size < 2:
        raise ValueError(
            f"model.ensemble.ensemble_size must be >= 2 for rollout={type(schedule).__name__}, "
            f"which needs the members' disagreement; got {model.ensemble_size}"
        )
    if getattr(schedule, "uncertainty", "start") != "start" and settings.probe_size == 0:
        raise ValueError(f"rollout.uncertainty={schedule.uncertainty} is measured by the probe; "
                         "probe_size must be >= 1, got 0")
    return Components(
        env=env,
        eval_env=eval_env,
        terminated_fn=termination_fn(cfg.env.id, env_kwargs),
        agent=agent,
        model=model,
        trainer=trainer,
        schedule=schedule,
        real_buffer=TransitionBuffer(obs_dim, act_dim, settings.total_steps, device),
        model_buffer=TransitionBuffer(
            obs_dim, act_dim, settings.model_buffer_capacity(schedule.max_horizon), device
        ),
        precision=precision,
    )


SUMMARY_NAME = "summary.json"
"""Written when a run reaches total_steps: a re-launched suite (resume=auto) skips it."""


class ConfigError(ValueError):
    """Bad input (config value, env id, checkpoint), found before any work started."""


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def start_state(components: Components, seed: int) -> LoopState:
    """A fresh run's first observation, with the envs' own random streams seeded too (the
    random-action phase samples from the action space), so a seed fixes the whole run."""
    obs, _ = components.env.reset(seed=seed)
    components.env.action_space.seed(seed)
    components.eval_env.reset(seed=seed + 1_000_000)
    return LoopState(obs=obs)


def resume_path(resume: str | None, run_dir: Path) -> Path | None:
    """resume=true: this run dir's checkpoint; resume=auto: that checkpoint if there is one
    (a suite re-launched after an interruption), else a fresh start; resume=PATH: a run dir or
    a checkpoint file."""
    if resume is None or str(resume).lower() in ("false", "none", ""):
        return None
    if str(resume).lower() == "auto":
        return run_dir / CHECKPOINT_NAME if (run_dir / CHECKPOINT_NAME).is_file() else None
    if str(resume).lower() == "true":
        return run_dir / CHECKPOINT_NAME
    path = Path(resume)
    return path / CHECKPOINT_NAME if path.is_dir() else path


@contextlib.contextmanager
def stop_on_signals(log: RunLogger) -> Iterator[list[bool]]:
    """SIGINT/SIGTERM ask the loop to checkpoint and stop; a second SIGINT interrupts."""
    requested = [False]

    def handler(signum: int, _frame: object) -> None:
        requested[0] = True
        log.line(f"received {signal.Signals(signum).name}: checkpointing and stopping")
        signal.signal(signum, signal.default_int_handler if signum == signal.SIGINT
                      else signal.SIG_DFL)

    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError):  # not the main thread: leave signals alone
            previous[sig] = signal.signal(sig, handler)
    try:
        yield requested
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def hparams_of(cfg: DictConfig, overrides: Sequence[str]) -> dict[str, object]:
    """What a sweep varies: env, schedule and its settings, seed, and every override."""
    rollout = OmegaConf.to_container(cfg.rollout, resolve=True)
    params: dict[str, object] = {
        "env": cfg.env.id,
        "rollout": str(rollout.pop("_target_")).rsplit(".", 1)[-1],
        "seed": cfg.seed,
        **{f"rollout.{k}": ("null" if v is None else v) for k, v in rollout.items()},
    }
    for override in overrides:
        key, _, value = override.lstrip("+~").partition("=")
        if not key.startswith("hydra") and key not in params:
            params[key] = value
    return params


def finished_summary(run_dir: Path, total_steps: int, fingerprint: str) -> dict[str, float] | None:
    """The summary a run wrote when it reached `total_steps`, or None if it has not.

    A finished run of another config in the same directory is an error, not a skip: the
    results on disk would otherwise be reported under settings they were not run with.
    """
    path = run_dir / SUMMARY_NAME
    if not path.is_file():
        return None
    done = json.loads(path.read_text())
    if done.get("config", fingerprint) != fingerprint:
        raise ConfigError(f"{run_dir} holds a finished run of another config (config hash "
                          f"{done['config']}, this one {fingerprint}); use another run dir")
    return done["summary"] if done.get("total_steps") == total_steps else None


def train(cfg: DictConfig, run_dir: Path, console: bool = True,
          overrides: Sequence[str] = ()) -> dict[str, float]:
    """Run (or resume) one MBPO training job, logging to `run_dir`; returns its returns.

    Everything is validated and built before any training work starts.
    """
    fingerprint = config_fingerprint(cfg)
    if str(cfg.resume).lower() == "auto":
        done = finished_summary(run_dir, cfg.total_steps, fingerprint)
        if done is not None:  # a suite re-launched: this run has nothing left to do
            if console:
                print(f"{run_dir}: finished earlier ({cfg.total_steps} steps), skipped")
            return done
    try:
        settings = loop_settings(cfg)
        device = resolve_device(cfg.device.value)
        precision = resolve_precision(cfg.precision.value, device, cfg.bf16_components)
        if cfg.threads > 0:
            torch.set_num_threads(cfg.threads)
        # CPU only; a CUDA run resets it, so runs sharing a process do not inherit it.
        matmul_backend, matmul_why = fp32_matmul.select(
            cfg.fp32_matmul.value if device.type == "cpu" else "mkl")
        allocator_tuned = keep_freed_memory()
        seed_everything(cfg.seed)
        components = build(cfg, device, settings, precision)
        state = start_state(components, cfg.seed)
        checkpoint = resume_path(cfg.resume, run_dir)
        precision_before = None  # what the checkpoint's run resolved precision to
        if checkpoint is not None:
            saved = load_checked(checkpoint, fingerprint)
            state = restore_run(components, saved)
            run_dir = checkpoint.parent  # continue in the run's own directory
            precision_before = saved["meta"].get("precision")
    except (ValueError, InstantiationException, CheckpointError) as e:
        cause = e.__cause__ if isinstance(e, InstantiationException) and e.__cause__ else e
        raise ConfigError(str(cause)) from e
    run_dir.mkdir(parents=True, exist_ok=True)
    # On resume, drop events logged after the checkpoint: the curves continue without
    # duplicated steps (everything an iteration logs is at a step <= its env steps).
    log = RunLogger(run_dir, console=console, purge_step=state.t + 1 if checkpoint else None,
                    total_steps=settings.total_steps, start_step=state.t)
    if checkpoint is None:
        log.text("config", "```\n" + OmegaConf.to_yaml(cfg, resolve=True) + "\n```")
    log.line(f"run dir {run_dir} | device {device} | torch threads {torch.get_num_threads()}"
             f" | precision {precision.describe()}"
             f" | malloc {'tuned' if allocator_tuned else 'default'}"
             + (f" | fp32 CPU matmuls {matmul_backend}" + (f" ({matmul_why})" if matmul_why else "")
                if device.type == "cpu" else "")
             + (f" | resumed at step {state.t}" if checkpoint else "")
             + (f" | precision before the resume: {precision_before}"
                if precision_before not in (None, precision.describe()) else ""))

    def save(loop_state: LoopState) -> None:
        save_atomic(capture_run(components, loop_state, fingerprint), run_dir / CHECKPOINT_NAME)

    try:
        with stop_on_signals(log) as stop:
            state = run_mbpo(components, settings, log, state, save, lambda: stop[0])
        summary = state.summary()
        if state.t >= settings.total_steps:  # tmp + rename: a crash never leaves half a file
            tmp = run_dir / (SUMMARY_NAME + ".tmp")
            tmp.write_text(json.dumps(
                {"total_steps": settings.total_steps, "config": fingerprint, "summary": summary},
                indent=1))
            os.replace(tmp, run_dir / SUMMARY_NAME)
        log.hparams(hparams_of(cfg, overrides),
                    {f"hparam/{k}": v for k, v in summary.items()}, state.t)
    finally:
        log.close()
        components.env.close()
        components.eval_env.close()
    return summary


@hydra.main(version_base=None, config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> float:
    try:
        hydra_cfg = HydraConfig.get()
        result = train(cfg, Path(hydra_cfg.runtime.output_dir),
                       overrides=list(hydra_cfg.overrides.task))
    except ConfigError as e:  # bad input: one clear line, non-zero exit
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    return result["final_return"]


if __name__ == "__main__":
    main()
