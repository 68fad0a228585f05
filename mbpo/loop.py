"""The MBPO loop (Janner et al. 2019, Algorithm 2), read top to bottom.

Per real env step: act in the env; do G SAC updates on mixed batches; evaluate every
eval_every steps; every model_train_freq steps, fit the ensemble on all real data, take the
first model step from fresh start states (measuring the uncertainty), let the schedule
pick the horizon, resize the model buffer and roll out for the steps to come. Everything
an iteration logs carries a step no later than the env steps taken after it, so a
checkpoint taken between iterations splits the event log cleanly.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np
import torch

from mbpo.buffer import TransitionBuffer, sample_mixed
from mbpo.config import RunConfig
from mbpo.diagnostic import kstep_diagnostic
from mbpo.ensemble import GaussianEnsemble
from mbpo.envs import TerminationFn
from mbpo.episodes import evaluate_policy
from mbpo.logger import RunLogger
from mbpo.model_training import EnsembleTrainer
from mbpo.precision import PrecisionPlan
from mbpo.probe import probe_signals
from mbpo.rollout import first_step, rollout_model
from mbpo.sac import SAC
from mbpo.schedules import RolloutSchedule


def model_buffer_capacity(settings: RunConfig, horizon: int) -> int:
    """MBPO's model pool size: retain_epochs * (rollouts per epoch) * batch * horizon."""
    rollouts_per_epoch = settings.epoch_length / settings.model_train_freq
    return int(settings.model_retain_epochs * rollouts_per_epoch * settings.rollout_batch_size
               * horizon)


class TrainingCollapsed(RuntimeError):
    """Updates or fits kept failing on non-finite numbers: the run cannot recover."""


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


LAST_K = 5
"""Evaluations averaged in last_k_mean_return: the end of the curve, without one noisy point."""


@dataclass
class LoopState:
    """What the loop carries from one env step to the next; a checkpoint holds all of it."""

    t: int = 0  # env steps taken
    obs: np.ndarray | None = None
    episode_return: float = 0.0
    last_episode_return: float = float("nan")
    horizon: int = 0
    uncertainty: float = float("nan")
    final_return: float = float("nan")
    best_return: float = float("-inf")
    eval_returns: list[float] = field(default_factory=list)  # every evaluation's mean
    horizons: list[int] = field(default_factory=list)
    lengths: list[float] = field(default_factory=list)  # mean realised length per phase
    last_model_phase: int = -1  # env step of the last model phase (a resume may owe one)
    rolled_back_fits: int = 0  # model fits rolled back in a row
    wall_s: float = 0.0  # time spent in the loop, summed over resumes
    sac_sums: dict[str, torch.Tensor] = field(default_factory=dict)  # averaged when logged
    sac_count: int | torch.Tensor = 0  # applied updates in the sums (a device tensor)

    def summary(self) -> dict[str, float]:
        returns = self.eval_returns
        return {
            "final_return": self.final_return,
            "best_return": self.best_return,
            # The mean of all evaluations: the learning curve's area, less noisy than one.
            "auc_return": float(np.mean(returns)) if returns else float("nan"),
            "last_k_mean_return": float(np.mean(returns[-LAST_K:])) if returns else float("nan"),
            "mean_horizon": float(np.mean(self.horizons)) if self.horizons else float("nan"),
            "mean_length": float(np.mean(self.lengths)) if self.lengths else float("nan"),
            "wall_s": self.wall_s,
        }


def finish_queued_work(device: torch.device) -> None:
    """Wait for the kernels a CUDA phase queued, so its timer counts them (the SAC updates
    never sync; model training and rollouts end by reading numbers back, which waits)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def model_phase(components: Components, settings: RunConfig, state: LoopState, log: RunLogger,
                timers: dict[str, float]) -> None:
    """Fit the ensemble, take the first step, let the schedule pick H, resize and roll out."""
    model, actor, schedule = components.model, components.agent.actor, components.schedule
    bf16 = components.precision.rollout
    if settings.diagnostic_every and state.horizons and state.t % settings.diagnostic_every == 0:
        # The real steps since the last fit are held out from the model that fit produced.
        held_out = components.real_buffer.recent(settings.model_train_freq)
        log.scalars("diag", kstep_diagnostic(model, held_out, schedule.max_horizon), state.t)
    tic = time.perf_counter()
    real = components.real_buffer.all()
    model_metrics = components.trainer.fit(real.obs, real.act, real.rew, real.next_obs)
    timers["model_train_s"] += time.perf_counter() - tic
    log.scalars("model", model_metrics, state.t)
    state.last_model_phase = state.t
    state.rolled_back_fits = state.rolled_back_fits + 1 if model_metrics["rollback"] else 0
    if settings.max_rolled_back_fits and state.rolled_back_fits >= settings.max_rolled_back_fits:
        raise TrainingCollapsed(
            f"the last {state.rolled_back_fits} model fits all went non-finite and were rolled "
            "back (max_rolled_back_fits); the likely cause is model.trainer.lr or the env's "
            "rewards/observations (env.kwargs)")

    tic = time.perf_counter()
    start = components.real_buffer.sample_obs(settings.rollout_batch_size)
    first = first_step(model, actor, start, settings.rollout_chunk_size, bf16)
    timers["rollout_s"] += time.perf_counter() - tic
    tic = time.perf_counter()
    signals = {"start": float(first.var.mean())}
    if settings.probe_size:  # its own random stream: the run's is left untouched
        signals.update(probe_signals(
            model, actor, start[: settings.probe_size], schedule.max_horizon,
            components.terminated_fn, seed=settings.seed * 1_000_003 + state.t, bf16=bf16))
    timers["probe_s"] += time.perf_counter() - tic
    tic = time.perf_counter()
    epoch = (state.t - settings.init_steps) // settings.epoch_length
    plan = schedule.plan(epoch, first.var, signals)
    components.model_buffer.set_capacity(model_buffer_capacity(settings, plan.horizon))
    stats = rollout_model(model, actor, first, plan, components.terminated_fn,
                          components.model_buffer, settings.rollout_chunk_size, bf16)
    timers["rollout_s"] += time.perf_counter() - tic
    state.horizon = plan.horizon
    state.uncertainty = signals[getattr(schedule, "uncertainty", "start")]
    state.horizons.append(plan.horizon)
    state.lengths.append(stats.mean_length)
    var_q10, var_q50, var_q90 = torch.quantile(
        first.var.float(), torch.tensor([0.1, 0.5, 0.9], device=first.var.device)).tolist()
    log.scalars("rollout", {
        "horizon": plan.horizon,
        "uncertainty": state.uncertainty,
        "uncertainty_q10": var_q10,
        "uncertainty_q50": var_q50,
        "uncertainty_q90": var_q90,
        "mean_length": stats.mean_length,
        "mean_horizon": float(np.mean(state.horizons)),  # over the phases so far
        "truncated_frac": stats.truncated_frac,
        "model_buffer_size": len(components.model_buffer),
        **(plan.info or {}),
        **{f"signal_{name}": value for name, value in signals.items()},
    }, state.t)
    finite_var = first.var[torch.isfinite(first.var)]
    if finite_var.numel():  # a single-member model has no disagreement to show
        log.histogram("rollout/uncertainty_hist", finite_var, state.t)


def model_phase_due(settings: RunConfig, step: int) -> bool:
    """MBPO trains the model every model_train_freq steps after init_steps, for the steps
    to come (none after the last)."""
    since_init = step - settings.init_steps
    return (since_init >= 0 and since_init % settings.model_train_freq == 0
            and step < settings.total_steps)


def uses_model(components: Components) -> bool:
    """False for the model-free baseline (rollout=none)."""
    return getattr(components.schedule, "uses_model", True)


def run_mbpo(components: Components, settings: RunConfig, log: RunLogger, state: LoopState,
             save_checkpoint: Callable[[LoopState], None] | None = None,
             stop_requested: Callable[[], bool] = lambda: False) -> LoopState:
    """Run from `state` (fresh, or restored from a checkpoint) to total_steps or a stop."""
    timers = {"model_train_s": 0.0, "rollout_s": 0.0, "probe_s": 0.0, "sac_s": 0.0}
    window_start, window_step = time.perf_counter(), state.t
    loop_start, wall_before = window_start, state.wall_s
    if model_phase_due(settings, state.t) and state.last_model_phase != state.t and uses_model(components):
        # A finished run extended with a larger total_steps: its last step skipped the model
        # phase that an uninterrupted longer run takes there.
        model_phase(components, settings, state, log, timers)
    skipped_before, skipped_in_a_row = components.agent.skipped_updates, 0

    while state.t < settings.total_steps:
        t = state.t
        # 1. Act in the real env: uniform random at first, then by sampling the policy.
        if t < settings.init_steps:
            action = components.env.action_space.sample()
        else:
            action = components.agent.act(state.obs, deterministic=False)
            if not np.isfinite(action).all():  # never hand the simulator NaN controls
                raise TrainingCollapsed(
                    f"the policy's action at step {t} is not finite; the likely cause is "
                    "agent.lr, agent.init_alpha or the env's rewards (env.kwargs)")
        next_obs, reward, terminated, truncated, _ = components.env.step(action)
        # Only `terminated` stops bootstrapping; a time-limit truncation does not.
        components.real_buffer.add(state.obs, action, float(reward), next_obs, bool(terminated))
        state.episode_return += float(reward)
        state.obs = next_obs
        state.t = step = t + 1
        if terminated or truncated:
            log.scalars("train", {"episode_return": state.episode_return}, step)
            state.last_episode_return, state.episode_return = state.episode_return, 0.0
            state.obs, _ = components.env.reset()
        if step % 10 == 0:
            log.progress(step, {"return": f"{state.last_episode_return:.0f}",
                                "eval": f"{state.final_return:.0f}", "H": state.horizon})

        # 2. G SAC updates on batches mixing real and model transitions.
        if t >= settings.init_steps:
            tic = time.perf_counter()
            for _ in range(settings.updates_per_step):
                batch = sample_mixed(components.real_buffer, components.model_buffer,
                                     components.agent.batch_size, settings.real_ratio)
                metrics = components.agent.update(batch)  # no host sync: sums stay on the device
                state.sac_count = state.sac_count + metrics.pop("applied")
                for name, value in metrics.items():  # a skipped update adds zeros
                    sums = state.sac_sums
                    sums[name] = sums[name] + value if name in sums else value
            finish_queued_work(components.real_buffer.device)
            timers["sac_s"] += time.perf_counter() - tic
        if step % settings.log_every == 0 and t >= settings.init_steps:
            count = torch.as_tensor(state.sac_count).clamp_min(1)
            means = {k: v / count for k, v in state.sac_sums.items()}
            skipped = components.agent.skipped_updates
            log.scalars("sac", {**means, "skipped_updates": skipped}, step)
            # Every update of the window skipped: the streak goes on, else it restarts.
            window_updates = settings.log_every * settings.updates_per_step
            skipped_in_a_row = (skipped_in_a_row + window_updates
                                if skipped - skipped_before >= window_updates else 0)
            skipped_before = skipped
            state.sac_sums, state.sac_count = {}, 0
            if settings.max_skipped_updates and skipped_in_a_row >= settings.max_skipped_updates:
                raise TrainingCollapsed(
                    f"the last {skipped_in_a_row} SAC updates were all skipped for non-finite "
                    "losses (max_skipped_updates); the likely cause is agent.lr, "
                    "agent.init_alpha or the env's rewards (env.kwargs)")

        # 3. Periodic deterministic evaluation and per-epoch console line.
        if step % settings.eval_every == 0 or step == settings.total_steps:
            elapsed = time.perf_counter() - window_start  # training time only, not evaluation
            steps_per_s = (step - window_step) / max(elapsed, 1e-9)
            mean, std = evaluate_policy(components.eval_env, components.agent, settings.eval_episodes)
            state.final_return = mean
            state.best_return = max(state.best_return, mean)
            state.eval_returns.append(mean)
            # best and AUC so far: curves whose last value is the run's summary (the HParams
            # metrics read them there, so no one-point scalars clutter the Scalars tab)
            log.scalars("eval", {"return": mean, "return_std": std,
                                 "best_return": state.best_return,
                                 "auc_return": float(np.mean(state.eval_returns))}, step)
            log.scalars("perf", {"env_steps_per_s": steps_per_s, **timers}, step)
            log.line(
                f"step {step:>7d} | eval {mean:8.1f} ± {std:6.1f} | train ep "
                f"{state.last_episode_return:8.1f} | H {state.horizon:2d} | "
                f"Var {state.uncertainty:.4f} | {steps_per_s:6.1f} steps/s"
            )
            log.flush()
            timers = dict.fromkeys(timers, 0.0)
            window_start, window_step = time.perf_counter(), step

        # 4. Model phase for the steps to come (MBPO trains the model every model_train_freq).
        if model_phase_due(settings, step) and uses_model(components):
            model_phase(components, settings, state, log, timers)

        # 5. Checkpoint between iterations: periodically, at the end, or when asked to stop.
        state.wall_s = wall_before + time.perf_counter() - loop_start
        stopping = stop_requested()
        if save_checkpoint and (step % settings.checkpoint_every == 0 or step == settings.total_steps
                                or stopping):
            log.flush()
            save_checkpoint(state)
        if stopping:
            log.line(f"stopped at step {step}" + (", checkpoint written" if save_checkpoint
                                                   else ""))
            break
    return state
