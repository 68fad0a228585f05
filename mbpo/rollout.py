"""Batched model rollouts: all start states at once, in cache-sized chunks.

Each step draws every sample's next state from one random elite (MBPO's propagation,
Gaussian noise included for the probabilistic model), applies the env's termination
rule, and writes the transitions of the still-running samples to the model buffer.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from mbpo.buffer import TransitionBuffer
from mbpo.ensemble import GaussianEnsemble
from mbpo.envs import TerminationFn
from mbpo.sac import Actor
from mbpo.schedules import RolloutPlan
from mbpo.uncertainty import epistemic_variance


class RolloutStats(NamedTuple):
    transitions: int
    mean_length: float  # transitions per start state
    truncated_frac: float  # start states stopped early by the plan's per-sample mask


def propagate(model: GaussianEnsemble, obs: Tensor, mean: Tensor,
              logvar: Tensor | None) -> tuple[Tensor, Tensor]:
    """Next obs and reward for each sample from one random elite: [B, obs_dim], [B]."""
    batch = obs.shape[0]
    member = model.elite_idx[torch.randint(model.num_elites, (batch,), device=obs.device)]
    rows = torch.arange(batch, device=obs.device)
    pred = mean[member, rows]  # [B, D]
    if logvar is not None:
        pred = pred + torch.randn_like(pred) * (0.5 * logvar[member, rows]).exp()
    delta, rew = model.to_raw(pred)
    return obs + delta, rew


@torch.no_grad()
def start_state_uncertainty(model: GaussianEnsemble, actor: Actor, obs: Tensor,
                            chunk_size: int) -> Tensor:
    """Per-sample epistemic variance [B] of the first step, with the current policy's actions.

    A single-member model has no disagreement to measure: it gets NaN.
    """
    if model.ensemble_size < 2:
        return torch.full((obs.shape[0],), float("nan"), device=obs.device)
    out = []
    for chunk in obs.split(chunk_size):
        act, _ = actor.sample(chunk)
        mean, _ = model(chunk, act)
        out.append(epistemic_variance(mean))
    return torch.cat(out)


@torch.no_grad()
def rollout_model(model: GaussianEnsemble, actor: Actor, start_obs: Tensor, plan: RolloutPlan,
                  terminated_fn: TerminationFn, buffer: TransitionBuffer,
                  chunk_size: int) -> RolloutStats:
    """Roll the policy out in the model for `plan.horizon` steps from every start state."""
    transitions, stopped = 0, 0
    for chunk in start_obs.split(chunk_size):
        obs = chunk
        for step in range(plan.horizon):
            act, _ = actor.sample(obs)
            mean, logvar = model(obs, act)  # [E, b, D]
            next_obs, rew = propagate(model, obs, mean, logvar)
            done = terminated_fn(next_obs)
            buffer.add_batch(obs, act, rew, next_obs, done)
            transitions += obs.shape[0]
            if step + 1 == plan.horizon:
                break
            alive = ~done
            if plan.keep is not None:
                keep = plan.keep(epistemic_variance(mean), step)
                stopped += int((alive & ~keep).sum())
                alive &= keep
            obs = next_obs[alive]
            if obs.shape[0] == 0:
                break
    n = start_obs.shape[0]
    return RolloutStats(transitions, transitions / n, stopped / n)
