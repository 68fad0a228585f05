"""Batched model rollouts: all start states at once, in cache-sized chunks.

Each step draws every sample's next state from one random elite (MBPO's propagation,
Gaussian noise included for the probabilistic model), applies the env's termination
rule, and writes the transitions of the still-running samples to the model buffer.
The first step of a phase is computed once, before the horizon is chosen: it yields the
uncertainty the schedule needs and is then written as the rollout's first transition.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from mbpo.buffer import TransitionBuffer
from mbpo.ensemble import GaussianEnsemble
from mbpo.envs import TerminationFn
from mbpo.precision import autocast
from mbpo.sac import Actor
from mbpo.schedules import RolloutPlan
from mbpo.shapes import pad_rows
from mbpo.uncertainty import epistemic_variance


class Step(NamedTuple):
    obs: Tensor  # [B, obs_dim]
    act: Tensor  # [B, act_dim]
    next_obs: Tensor  # [B, obs_dim]
    rew: Tensor  # [B]
    var: Tensor  # [B] epistemic variance of this step (NaN for a single-member model)

    def split(self, size: int) -> list[Step]:
        return [Step(*parts) for parts in zip(*(t.split(size) for t in self))]


class RolloutStats(NamedTuple):
    transitions: int
    mean_length: float  # transitions per start state
    truncated_frac: float  # start states stopped early by the plan's per-sample mask


def act_and_predict(model: GaussianEnsemble, actor: Actor, obs: Tensor, bf16: bool = False,
                    bound: bool = True) -> tuple[Tensor, Tensor, Tensor | None]:
    """The policy's action [n, act_dim] for obs [n, obs_dim] and every member's prediction,
    mean and logvar [E, n, D] (`bound=False`: raw logvar). Only the networks see the padding
    rows (the model's `rollout_row_multiple`); every random draw is for the real samples."""
    n, rows = obs.shape[0], model.rollout_row_multiple
    padded_obs = pad_rows(obs, rows)
    with autocast(obs.device, bf16):  # matmuls only; outputs come back fp32
        act, _ = actor.sample_from(*(t[:n] for t in actor(padded_obs)))
        mean, logvar = model(padded_obs, pad_rows(act, rows), bound=bound)
    return act, mean[:, :n], None if logvar is None else logvar[:, :n]


def propagate(model: GaussianEnsemble, obs: Tensor, mean: Tensor, logvar: Tensor | None,
              bounded: bool) -> tuple[Tensor, Tensor]:
    """Next obs and reward for each sample from one random elite: [B, obs_dim], [B].
    `logvar` [E, B, D] is bounded, or raw (`bounded=False`): then only the chosen member's
    row gets bounded, 1/E of the work."""
    batch = obs.shape[0]
    member = model.elite_idx[torch.randint(model.num_elites, (batch,), device=obs.device)]
    rows = torch.arange(batch, device=obs.device)
    pred = mean[member, rows]  # [B, D]
    if logvar is not None:
        chosen = logvar[member, rows] if bounded else model.bound_logvar(logvar[member, rows],
                                                                         member)
        pred = pred + torch.randn_like(pred) * (0.5 * chosen).exp()
    delta, rew = model.to_raw(pred)
    return obs + delta, rew


@torch.no_grad()
def model_step(model: GaussianEnsemble, actor: Actor, obs: Tensor, bf16: bool = False,
               with_var: bool = True) -> Step:
    """One policy action and one model transition per sample, with its uncertainty
    (NaN where not asked for, or for a single-member model)."""
    act, mean, raw_logvar = act_and_predict(model, actor, obs, bf16, bound=False)
    next_obs, rew = propagate(model, obs, mean, raw_logvar, bounded=False)
    var = (epistemic_variance(mean) if with_var and model.ensemble_size > 1
           else torch.full_like(rew, float("nan")))
    return Step(obs, act, next_obs, rew, var)


@torch.no_grad()
def first_step(model: GaussianEnsemble, actor: Actor, start_obs: Tensor, chunk_size: int,
               bf16: bool = False) -> Step:
    """The first rollout step of every start state; its `var` is what schedules read."""
    steps = [model_step(model, actor, chunk, bf16) for chunk in start_obs.split(chunk_size)]
    return Step(*(torch.cat(parts) for parts in zip(*steps)))


@torch.no_grad()
def rollout_model(model: GaussianEnsemble, actor: Actor, first: Step, plan: RolloutPlan,
                  terminated_fn: TerminationFn, buffer: TransitionBuffer, chunk_size: int,
                  bf16: bool = False) -> RolloutStats:
    """Roll the policy out in the model for `plan.horizon` steps, starting with `first`."""
    transitions, stopped = 0, 0
    for chunk in first.split(chunk_size):
        step = chunk
        for h in range(plan.horizon):
            if h > 0:  # later steps need Var only for a per-sample mask
                step = model_step(model, actor, step.obs, bf16, with_var=plan.keep is not None)
            # A sample ends, unwritten, at a diverged prediction or (with a mask) at the first
            # step whose own uncertainty is over the threshold; it never resumes.
            keep = torch.isfinite(step.next_obs).all(dim=-1) & torch.isfinite(step.rew)
            if plan.keep is not None:
                masked = ~plan.keep(step.var, h)
                stopped += int((keep & masked).sum())
                keep &= ~masked
            if not bool(keep.all()):
                step = Step(*(t[keep] for t in step))
                if step.obs.shape[0] == 0:
                    break
            done = terminated_fn(step.obs, step.act, step.next_obs)
            buffer.add_batch(step.obs, step.act, step.rew, step.next_obs, done)
            transitions += step.obs.shape[0]
            if h + 1 == plan.horizon or bool(done.all()):
                break
            step = step._replace(obs=step.next_obs[~done])
    n = first.obs.shape[0]
    return RolloutStats(transitions, transitions / n, stopped / n)
