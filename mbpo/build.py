"""From a composed config and its checked settings (mbpo/config.py) to the components.

Run-time sizes (observation and action dimensions) go in as `instantiate` arguments, never
into the config. Everything is validated here, before any training work starts.
"""

from __future__ import annotations

import random

import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from mbpo.buffer import TransitionBuffer
from mbpo.config import RunConfig
from mbpo.envs import make_env, termination_fn
from mbpo.loop import Components, LoopState, model_buffer_capacity
from mbpo.precision import PrecisionPlan
from mbpo.sac import SAC


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device=cuda was requested but torch finds no CUDA device")
    return torch.device(name)


def env_kwargs_of(cfg: DictConfig) -> dict:
    return OmegaConf.to_container(cfg.env.kwargs, resolve=True)


def build_agent(cfg: DictConfig, obs_dim: int, act_dim: int, action_low: np.ndarray,
                action_high: np.ndarray, device: torch.device, bf16: bool = False) -> SAC:
    return instantiate(cfg.agent, obs_dim=obs_dim, act_dim=act_dim, action_low=action_low,
                       action_high=action_high, bf16=bf16, device=device)


def build(cfg: DictConfig, device: torch.device, settings: RunConfig,
          precision: PrecisionPlan | None = None) -> Components:
    """Instantiate every component; run-time sizes go in as arguments, never into cfg."""
    precision = precision or PrecisionPlan()
    env_kwargs = env_kwargs_of(cfg)
    termination_fn(cfg.env.id, env_kwargs, cfg.env.get("termination"))  # refused up front
    env = make_env(cfg.env.id, env_kwargs)
    eval_env = make_env(cfg.env.id, env_kwargs)
    obs_dim = env.observation_space.shape[0]
    act_dim = env.action_space.shape[0]
    model = instantiate(cfg.model.ensemble, obs_dim=obs_dim, act_dim=act_dim,
                        row_padding=settings.row_padding).to(device)
    trainer = instantiate(cfg.model.trainer, model=model, bf16=precision.model_train)
    agent = build_agent(cfg, obs_dim, act_dim, env.action_space.low, env.action_space.high,
                        device, precision.sac)
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
        terminated_fn=termination_fn(cfg.env.id, env_kwargs, cfg.env.get("termination")),
        agent=agent,
        model=model,
        trainer=trainer,
        schedule=schedule,
        real_buffer=TransitionBuffer(obs_dim, act_dim, settings.total_steps, device),
        model_buffer=TransitionBuffer(
            obs_dim, act_dim, model_buffer_capacity(settings, schedule.max_horizon), device
        ),
        precision=precision,
    )


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
