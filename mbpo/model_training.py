"""Fits the dynamics ensemble on all real data, MBPO-style.

Gaussian NLL (or MSE for the mean-only variant) on bootstrapped minibatches, per-layer
weight decay, a holdout split, early stopping on holdout MSE with per-member snapshots,
and elites chosen as the members with the lowest holdout MSE.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence

import torch
from torch import Tensor

from mbpo.checks import finite, positive
from mbpo.ensemble import GaussianEnsemble
from mbpo.optim import adam_step, clear_grads, fused_adam, load_adam_state
from mbpo.precision import autocast
from mbpo.shapes import pad_rows

GATHER_BLOCK = 16
"""Minibatches gathered at once: 16 x 256 rows x 7 members is 3 MB on Hopper and 80 MB on
Humanoid-v5 (a whole epoch at once: 0.3 GB at 125k Hopper steps, 5 GB at 300k Humanoid)."""


class EnsembleTrainer:
    def __init__(self, model: GaussianEnsemble, lr: float = 1e-3, batch_size: int = 256,
                 weight_decays: Sequence[float] = (2.5e-5, 5e-5, 7.5e-5, 7.5e-5, 1e-4),
                 holdout_ratio: float = 0.2, max_holdout: int = 5000, patience: int = 5,
                 min_improvement: float = 0.01, max_epochs: int | None = None,
                 bf16: bool = False):
        n_layers = len(model.linear_layers)
        positive("model.trainer.lr", lr)
        for i, decay in enumerate(weight_decays):
            if finite(f"model.trainer.weight_decays[{i}]", decay) < 0:
                raise ValueError(f"model.trainer.weight_decays[{i}] must be >= 0, got {decay}")
        finite("model.trainer.min_improvement", min_improvement)
        if len(weight_decays) != n_layers:
            raise ValueError(
                f"model.trainer.weight_decays needs one value per linear layer ({n_layers}), "
                f"got {len(weight_decays)}"
            )
        if batch_size < 1:
            raise ValueError(f"model.trainer.batch_size must be >= 1, got {batch_size}")
        if not 0.0 < finite("model.trainer.holdout_ratio", holdout_ratio) < 1.0:
            raise ValueError(f"model.trainer.holdout_ratio must be in (0, 1), got {holdout_ratio}")
        if patience < 1:
            raise ValueError(f"model.trainer.patience must be >= 1, got {patience}")
        if max_epochs is not None and max_epochs < 1:
            raise ValueError(f"model.trainer.max_epochs must be >= 1 or null, got {max_epochs}")
        self.model = model
        self.batch_size = batch_size
        self.weight_decays = list(weight_decays)
        self.holdout_ratio, self.max_holdout = holdout_ratio, max_holdout
        self.patience, self.min_improvement = patience, min_improvement
        self.max_epochs = max_epochs
        self.bf16 = bf16
        # Per-layer L2 decay as Adam's (coupled) weight_decay: the same gradient as adding
        # d/2 * ||W||^2 to the loss, as MBPO does, without ~20 extra ops per minibatch.
        decayed = [{"params": [layer.weight], "weight_decay": d}
                   for d, layer in zip(self.weight_decays, model.linear_layers)]
        weights = {id(layer.weight) for layer in model.linear_layers}
        rest = [p for p in model.parameters() if id(p) not in weights]
        self.optimizer = fused_adam(decayed + [{"params": rest}], lr)

    def loss(self, inputs: Tensor, targets: Tensor) -> Tensor:
        """Per-member mean NLL (or MSE), summed over members, plus the logvar-bound penalty
        (the weight decay is applied by the optimiser)."""
        with autocast(inputs.device, self.bf16):
            mean, logvar = self.model.forward_inputs(inputs)  # [E, B, D], fp32
        if logvar is None:
            fit = ((mean - targets) ** 2).mean(dim=(1, 2)).sum()
        else:
            nll = (mean - targets) ** 2 * torch.exp(-logvar) + logvar
            fit = nll.mean(dim=(1, 2)).sum()
            fit = fit + 0.01 * (self.model.max_logvar.sum() - self.model.min_logvar.sum())
        return fit

    @torch.no_grad()
    def holdout_mse(self, inputs: Tensor, targets: Tensor) -> Tensor:
        """Per-member MSE of the mean in standardised units: [E]. The rows are padded as
        the model says (`holdout_row_multiple`): the holdout set grows with the data."""
        mean, _ = self.model.forward_inputs(pad_rows(inputs, self.model.holdout_row_multiple))
        mean = mean[:, :inputs.shape[0]]
        return ((mean - targets) ** 2).mean(dim=(1, 2))

    def state_dict(self) -> dict[str, object]:
        return {"optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, object]) -> None:
        load_adam_state(self.optimizer, state["optimizer"])

    def fit(self, obs: Tensor, act: Tensor, rew: Tensor, next_obs: Tensor) -> dict[str, float]:
        """Fit on all data; a fit whose loss goes non-finite is undone (`rollback` = 1)."""
        last_good = (copy.deepcopy(self.model.state_dict()),
                     copy.deepcopy(self.optimizer.state_dict()))
        metrics = self._fit(obs, act, rew, next_obs)
        if metrics is None:
            self.model.load_state_dict(last_good[0])
            load_adam_state(self.optimizer, last_good[1])
            return {"train_loss": float("nan"), "holdout_mse": float("nan"), "epochs": 0.0,
                    "rollback": 1.0}
        return {**metrics, "rollback": 0.0}

    def _fit(self, obs: Tensor, act: Tensor, rew: Tensor,
             next_obs: Tensor) -> dict[str, float] | None:
        model = self.model
        inputs = torch.cat([obs, act], dim=-1)
        raw_targets = torch.cat([next_obs - obs, rew.unsqueeze(-1)], dim=-1)
        model.input_norm.fit(inputs)
        model.target_norm.fit(raw_targets)
        targets = model.target_norm.normalize(raw_targets)

        n = inputs.shape[0]
        n_hold = min(int(n * self.holdout_ratio), self.max_holdout)
        perm = torch.randperm(n, device=inputs.device)
        hold, train = perm[:n_hold], perm[n_hold:]
        hold_x, hold_y = inputs[hold], targets[hold]
        train_x, train_y = inputs[train], targets[train]
        n_train, n_members = train.shape[0], model.ensemble_size
        if n_hold == 0:  # too little data to hold out: validate on the training set
            hold_x, hold_y = train_x, train_y

        # One bootstrap draw per member per fit (drawing anew each epoch would give every
        # member the same data on average); only the order is reshuffled each epoch.
        bootstrap = torch.randint(n_train, (n_members, n_train), device=inputs.device)
        best = self.holdout_mse(hold_x, hold_y)
        best_state = {k: v.clone() for k, v in model.named_parameters()}
        epochs, since_improved, train_loss = 0, 0, float("nan")
        while since_improved < self.patience and (
            self.max_epochs is None or epochs < self.max_epochs
        ):
            order = bootstrap.gather(1, torch.rand(n_members, n_train, device=inputs.device)
                                     .argsort(dim=1))
            total = torch.zeros((), device=inputs.device)
            # One gather per block of minibatches, then contiguous slices: a gather per
            # minibatch costs more, one per epoch holds E copies of the data (GBs on Humanoid).
            block = self.batch_size * GATHER_BLOCK
            for block_start in range(0, n_train, block):
                rows = order[:, block_start:block_start + block]
                block_x, block_y = train_x[rows], train_y[rows]  # [E, block, .]
                for start in range(0, rows.shape[1], self.batch_size):
                    end = start + self.batch_size
                    loss = self.loss(block_x[:, start:end], block_y[:, start:end])
                    clear_grads(self.optimizer)
                    loss.backward()
                    adam_step(self.optimizer)
                    total += loss.detach()
            epochs += 1
            train_loss = float(total) / -(-n_train // self.batch_size)
            if not math.isfinite(train_loss):
                return None
            mse = self.holdout_mse(hold_x, hold_y)
            improved = (best - mse) / best.clamp_min(1e-12) > self.min_improvement  # [E]
            if improved.any():
                best = torch.where(improved, mse, best)
                for name, p in model.named_parameters():
                    best_state[name][improved] = p.detach()[improved]
                since_improved = 0
            else:
                since_improved += 1

        with torch.no_grad():
            for name, p in model.named_parameters():
                p.copy_(best_state[name])
        mse = self.holdout_mse(hold_x, hold_y)
        model.elite_idx.copy_(mse.argsort()[: model.num_elites])
        return {
            "train_loss": train_loss,
            "holdout_mse": float(mse[model.elite_idx].mean()),
            "epochs": float(epochs),
        }
