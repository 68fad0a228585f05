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


def propagate(model: GaussianEnsemble, obs: Tensor, mean: Tensor,
              raw_logvar: Tensor | None) -> tuple[Tensor, Tensor]:
    """Next obs and reward for each sample from one random elite: [B, obs_dim], [B].
    `raw_logvar` [E, B, D] is unbounded: only the chosen member's row gets bounded."""
    batch = obs.shape[0]
    member = model.elite_idx[torch.randint(model.num_elites, (batch,), device=obs.device)]
    rows = torch.arange(batch, device=obs.device)
    pred = mean[member, rows]  # [B, D]
    if raw_logvar is not None:
        logvar = model.bound_logvar(raw_logvar[member, rows], member)
        pred = pred + torch.randn_like(pred) * (0.5 * logvar).exp()
    delta, rew = model.to_raw(pred)
    return obs + delta, rew


ROW_MULTIPLE = 64
"""With `row_padding`, a rollout step's networks run on a multiple of this many rows
(mbpo/shapes.py): chunks shrink as samples end, and each new row count would be a new
oneDNN primitive."""


@torch.no_grad()
def model_step(model: GaussianEnsemble, actor: Actor, obs: Tensor, bf16: bool = False,
               with_var: bool = True, row_multiple: int = 1) -> Step:
    """One policy action and one model transition per sample, with its uncertainty
    (NaN where not asked for, or for a single-member model). Only the networks see the
    padding rows (`row_multiple`); every random draw is for the real samples."""
    n = obs.shape[0]
    padded_obs = pad_rows(obs, row_multiple)
    with autocast(obs.device, bf16):  # matmuls only; outputs come back fp32
        act, _ = actor.sample_from(*(t[:n] for t in actor(padded_obs)))
        mean, raw_logvar = model(padded_obs, pad_rows(act, row_multiple), bound=False)
    mean = mean[:, :n]
    raw_logvar = None if raw_logvar is None else raw_logvar[:, :n]
    next_obs, rew = propagate(model, obs, mean, raw_logvar)
    var = (epistemic_variance(mean) if with_var and model.ensemble_size > 1
           else torch.full_like(rew, float("nan")))
    return Step(obs, act, next_obs, rew, var)


@torch.no_grad()
def first_step(model: GaussianEnsemble, actor: Actor, start_obs: Tensor, chunk_size: int,
               bf16: bool = False, row_multiple: int = 1) -> Step:
    """The first rollout step of every start state; its `var` is what schedules read."""
    steps = [model_step(model, actor, chunk, bf16, row_multiple=row_multiple)
             for chunk in start_obs.split(chunk_size)]
    return Step(*(torch.cat(parts) for parts in zip(*steps)))


@torch.no_grad()
def rollout_model(model: GaussianEnsemble, actor: Actor, first: Step, plan: RolloutPlan,
                  terminated_fn: TerminationFn, buffer: TransitionBuffer, chunk_size: int,
                  bf16: bool = False, row_multiple: int = 1) -> RolloutStats:
    """Roll the policy out in the model for `plan.horizon` steps, starting with `first`."""
    transitions, stopped = 0, 0
    for chunk in first.split(chunk_size):
        step = chunk
        for h in range(plan.horizon):
            if h > 0:  # later steps need Var only for a per-sample mask
                step = model_step(model, actor, step.obs, bf16, with_var=plan.keep is not None,
                                  row_multiple=row_multiple)
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
