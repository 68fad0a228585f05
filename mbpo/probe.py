"""Uncertainty signals for the horizon rule, measured where the rollouts go.

The ensemble is fitted on the real buffer, so its members agree on the start states
whatever its quality off that data (docs/results/signal-study). A short probe rollout,
with the current model and policy from a subsample of this phase's start states, visits
the states a rollout will visit; the members' disagreement there is what the schedule
can read. Every signal is computed every phase, whichever one drives the horizon, so one
set of runs compares them all.

The probe draws its random numbers from its own seeded stream inside `fork_rng`: the
run's global stream is left exactly where it was, so logging the signals changes nothing
else a run computes.
"""

from __future__ import annotations

import torch
from torch import Tensor

from mbpo.ensemble import GaussianEnsemble
from mbpo.envs import TerminationFn
from mbpo.rollout import act_and_predict, propagate
from mbpo.sac import Actor
from mbpo.uncertainty import SIGNALS, epistemic_variance


@torch.no_grad()
def probe_signals(model: GaussianEnsemble, actor: Actor, start_obs: Tensor, horizon: int,
                  terminated_fn: TerminationFn, seed: int, bf16: bool = False) -> dict[str, float]:
    """Roll `start_obs` [B, obs_dim] out for `horizon` steps; the Var-based signals
    (all but `start`). A sample stops at a terminal or non-finite state, as in rollouts.
    NaN where the model has a single member."""
    nan = dict.fromkeys(SIGNALS[1:], float("nan"))
    if model.ensemble_size < 2 or start_obs.shape[0] == 0:
        return nan
    devices = [start_obs.device] if start_obs.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        obs = start_obs
        epistemic, aleatoric, last = [], [], torch.zeros(0)
        for _ in range(horizon):
            act, mean, logvar = act_and_predict(model, actor, obs, bf16)  # [E, n, D]
            var = epistemic_variance(mean)  # [n]
            epistemic.append(var)
            if logvar is not None:
                aleatoric.append(logvar.float().exp().mean(dim=(0, 2)))  # [n]
            last = var
            next_obs, rew = propagate(model, obs, mean, logvar, bounded=True)
            alive = (torch.isfinite(next_obs).all(dim=-1) & torch.isfinite(rew)
                     & ~terminated_fn(obs, act, next_obs))
            obs = next_obs[alive]
            if obs.shape[0] == 0:
                break
    visited = torch.cat(epistemic)
    signals = {"rollout": float(visited.mean()), "rollout_last": float(last.mean())}
    signals["rollout_ratio"] = (float(visited.mean() / torch.cat(aleatoric).mean())
                                if aleatoric else float("nan"))
    return signals
