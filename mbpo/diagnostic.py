"""Does the ensemble's uncertainty predict its error? An open-loop check on held-out data.

The model is rolled open-loop along real trajectories it was not trained on (the real
steps taken since its last fit), with the recorded actions, for k = 1..H steps; the true
k-step error (in the model's standardised units) is set next to the predicted epistemic
variance, per k, with their rank correlation over all (sample, k) pairs.
"""

from __future__ import annotations

import torch
from torch import Tensor

from mbpo.buffer import Batch
from mbpo.ensemble import GaussianEnsemble
from mbpo.uncertainty import epistemic_variance


def spearman(x: Tensor, y: Tensor) -> float:
    """Rank correlation (ties broken by order; fine for continuous values)."""
    if x.numel() < 2:
        return float("nan")
    rx = x.argsort().argsort().double()
    ry = y.argsort().argsort().double()
    rx, ry = rx - rx.mean(), ry - ry.mean()
    return float((rx * ry).sum() / (rx.norm() * ry.norm()).clamp_min(1e-12))


@torch.no_grad()
def kstep_diagnostic(model: GaussianEnsemble, trajectory: Batch, horizon: int) -> dict[str, float]:
    """{"kstep_error/k", "uncertainty/k"} for k = 1..horizon and "uncertainty_error_spearman".

    `trajectory` holds consecutive real transitions, oldest first; two rows belong to the
    same episode when the first's next_obs is the second's obs and it did not terminate.
    """
    n = trajectory.obs.shape[0]
    # continues[i]: transition i + 1 follows transition i in the same episode
    continues = torch.zeros(n, dtype=torch.bool, device=trajectory.obs.device)
    continues[:-1] = ((trajectory.next_obs[:-1] == trajectory.obs[1:]).all(dim=-1)
                      & (trajectory.terminated[:-1] == 0))
    obs_std = model.input_norm.std[: model.obs_dim]
    state = trajectory.obs.clone()  # [n, obs_dim]: one open-loop rollout per start index
    valid = torch.ones(n, dtype=torch.bool, device=state.device)
    start = torch.arange(n, device=state.device)
    metrics: dict[str, float] = {}
    errors, variances = [], []
    for k in range(1, horizon + 1):
        row = start + k - 1  # the real transition this step reproduces
        if k > 1:
            valid &= (row < n) & continues[(row - 1).clamp(max=n - 1)]
        row = row.clamp(max=n - 1)
        if not bool(valid.any()):
            break
        mean, _ = model(state, trajectory.act[row])  # [E, n, D]
        var = epistemic_variance(mean)
        delta, _ = model.to_raw(mean[model.elite_idx].mean(dim=0))
        state = state + delta
        error = (((state - trajectory.next_obs[row]) / obs_std) ** 2).mean(dim=-1)
        errors.append(error[valid])
        variances.append(var[valid])
        metrics[f"kstep_error/{k}"] = float(errors[-1].mean())
        metrics[f"uncertainty/{k}"] = float(variances[-1].mean())
    if errors:
        metrics["uncertainty_error_spearman"] = spearman(torch.cat(variances), torch.cat(errors))
    return metrics
