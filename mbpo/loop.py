"""The MBPO loop (Janner et al. 2019, Algorithm 2), read top to bottom.

Per real env step: (every model_train_freq steps) fit the ensemble on all real data,
take the first model step from fresh start states (measuring the uncertainty), let the
schedule pick the horizon, resize the model buffer and roll out; act in the env; do G SAC
updates on mixed batches; evaluate every eval_every steps.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np
import torch

from mbpo.buffer import TransitionBuffer, sample_mixed
from mbpo.ensemble import GaussianEnsemble
from mbpo.envs import TerminationFn
from mbpo.evaluation import evaluate_policy
from mbpo.logger import RunLogger
from mbpo.model_training import EnsembleTrainer
from mbpo.precision import PrecisionPlan
from mbpo.rollout import first_step, rollout_model
from mbpo.sac import SAC
from mbpo.schedules import RolloutSchedule


@dataclass
class LoopSettings:
    total_steps: int
    init_steps: int
    epoch_length: int
    model_train_freq: int
    updates_per_step: int
    rollout_batch_size: int
    rollout_chunk_size: int
    model_retain_epochs: int
    real_ratio: float
    eval_every: int
    eval_episodes: int
    log_every: int

    def model_buffer_capacity(self, horizon: int) -> int:
        """MBPO's model pool size: retain_epochs * (rollouts per epoch) * batch * horizon."""
        rollouts_per_epoch = self.epoch_length / self.model_train_freq
        return int(self.model_retain_epochs * rollouts_per_epoch * self.rollout_batch_size * horizon)


@dataclass
class Components:
    env: gym.Env
    eval_env: gym.Env
    terminated_fn: TerminationFn
    agent: SAC
    model: GaussianEnsemble
    trainer: EnsembleTrainer
    schedule: RolloutSchedule
    real_buffer: TransitionBuffer
    model_buffer: TransitionBuffer
    precision: PrecisionPlan


@dataclass
class RunSummary:
    final_return: float = float("nan")
    best_return: float = float("-inf")
    horizons: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, float]:
        return {
            "final_return": self.final_return,
            "best_return": self.best_return,
            "mean_horizon": float(np.mean(self.horizons)) if self.horizons else float("nan"),
        }


def run_mbpo(c: Components, s: LoopSettings, log: RunLogger, seed: int) -> RunSummary:
    summary = RunSummary()
    obs, _ = c.env.reset(seed=seed)
    c.env.action_space.seed(seed)
    c.eval_env.reset(seed=seed + 1_000_000)
    episode_return, last_episode_return = 0.0, float("nan")
    horizon, uncertainty = 0, float("nan")
    timers = {"model_train_s": 0.0, "rollout_s": 0.0, "sac_s": 0.0}
    window_start, window_step = time.perf_counter(), 0
    sac_metrics: dict[str, torch.Tensor] = {}

    for t in range(s.total_steps):
        # 1. Model phase: fit, measure uncertainty, pick the horizon, roll out.
        if t >= s.init_steps and (t - s.init_steps) % s.model_train_freq == 0:
            tic = time.perf_counter()
            real = c.real_buffer.all()
            model_metrics = c.trainer.fit(real.obs, real.act, real.rew, real.next_obs)
            timers["model_train_s"] += time.perf_counter() - tic
            log.scalars("model", model_metrics, t)

            tic = time.perf_counter()
            start = c.real_buffer.sample_obs(s.rollout_batch_size)
            first = first_step(c.model, c.agent.actor, start, s.rollout_chunk_size,
                               c.precision.rollout)
            plan = c.schedule.plan((t - s.init_steps) // s.epoch_length, first.var)
            c.model_buffer.set_capacity(s.model_buffer_capacity(plan.horizon))
            stats = rollout_model(c.model, c.agent.actor, first, plan, c.terminated_fn,
                                  c.model_buffer, s.rollout_chunk_size, c.precision.rollout)
            timers["rollout_s"] += time.perf_counter() - tic
            horizon, uncertainty = plan.horizon, float(first.var.mean())
            summary.horizons.append(horizon)
            log.scalars("rollout", {
                "horizon": horizon,
                "uncertainty": uncertainty,
                "mean_length": stats.mean_length,
                "truncated_frac": stats.truncated_frac,
                "model_buffer_size": len(c.model_buffer),
            }, t)

        # 2. Act in the real env: uniform random at first, then by sampling the policy.
        if t < s.init_steps:
            action = c.env.action_space.sample()
        else:
            action = c.agent.act(obs, deterministic=False)
        next_obs, reward, terminated, truncated, _ = c.env.step(action)
        # Only `terminated` stops bootstrapping; a time-limit truncation does not.
        c.real_buffer.add(obs, action, float(reward), next_obs, bool(terminated))
        episode_return += float(reward)
        obs = next_obs
        if terminated or truncated:
            log.scalars("train", {"episode_return": episode_return}, t + 1)
            last_episode_return, episode_return = episode_return, 0.0
            obs, _ = c.env.reset()
        step = t + 1

        # 3. G SAC updates on batches mixing real and model transitions.
        if t >= s.init_steps:
            tic = time.perf_counter()
            for _ in range(s.updates_per_step):
                batch = sample_mixed(c.real_buffer, c.model_buffer, c.agent.batch_size,
                                     s.real_ratio)
                sac_metrics = c.agent.update(batch)
            timers["sac_s"] += time.perf_counter() - tic
        if sac_metrics and step % s.log_every == 0:
            log.scalars("sac", sac_metrics, step)

        # 4. Periodic deterministic evaluation and per-epoch console line.
        if step % s.eval_every == 0 or step == s.total_steps:
            elapsed = time.perf_counter() - window_start  # training time only, not evaluation
            steps_per_s = (step - window_step) / max(elapsed, 1e-9)
            mean, std = evaluate_policy(c.eval_env, c.agent, s.eval_episodes)
            summary.final_return = mean
            summary.best_return = max(summary.best_return, mean)
            log.scalars("eval", {"return": mean, "return_std": std}, step)
            log.scalars("perf", {"env_steps_per_s": steps_per_s, **timers}, step)
            log.line(
                f"step {step:>7d} | eval {mean:8.1f} ± {std:6.1f} | train ep {last_episode_return:8.1f}"
                f" | H {horizon:2d} | Var {uncertainty:.4f} | {steps_per_s:6.1f} steps/s"
            )
            log.flush()
            timers = dict.fromkeys(timers, 0.0)
            window_start, window_step = time.perf_counter(), step
    return summary
