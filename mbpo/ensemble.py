"""The dynamics ensemble: N members held as one network of batched matmuls.

Every layer has weights [E, in, out], so all members run in one `baddbmm` per layer and
there is no Python loop over members. Normalisers and the elite indices are registered
buffers, so `state_dict()` holds everything needed to use the model again.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mbpo.precision import autocast_on_cpu


class EnsembleLinear(nn.Module):
    """E independent linear layers; input [E, B, in] (or [B, in], shared) -> [E, B, out]."""

    def __init__(self, ensemble_size: int, in_features: int, out_features: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(ensemble_size, in_features, out_features))
        self.bias = nn.Parameter(torch.zeros(ensemble_size, 1, out_features))
        # MBPO's initialisation: truncated normal with std 1 / (2 sqrt(fan_in)).
        std = 1.0 / (2.0 * math.sqrt(in_features))
        nn.init.trunc_normal_(self.weight, std=std, a=-2 * std, b=2 * std)

    def forward(self, x: Tensor, frozen: bool = False) -> Tensor:
        """`frozen` reads detached weights: gradients reach x but never this layer."""
        w, b = (self.weight.detach(), self.bias.detach()) if frozen else (self.weight, self.bias)
        if per_member(x, w):  # in place of one baddbmm, on a CPU (see per_member)
            out = x.new_empty(w.shape[0], x.shape[-2], w.shape[-1])
            for e in range(w.shape[0]):
                torch.addmm(b[e], x if x.dim() == 2 else x[e], w[e], out=out[e])
            return out
        if x.dim() == 2:
            x = x.unsqueeze(0).expand(w.shape[0], -1, -1)
        if w.shape[-1] == 1:
            # One output unit: a multiply-sum (summed in fp32) beats a [*, n] x [n, 1] bmm on
            # a CPU (at [2, 256, 256]: 25 vs 84 us forward, 6-15 vs 85 us per backward product).
            # On every device: its fp32 sum keeps Q out of bf16 under autocast (a bf16 step is
            # 2 at Q = 300), as the learning checks that cleared bf16 ran it.
            return (x * w.transpose(1, 2).to(x.dtype)).sum(-1, keepdim=True,
                                                           dtype=torch.float32) + b
        return torch.baddbmm(b, x, w)


PER_MEMBER_MIN_ROWS = 1024


def per_member(x: Tensor, w: Tensor) -> bool:
    """Whether one matmul per member beats one batched matmul: in fp32 CPU inference on
    many rows when the members do not divide among the threads (a CPU batched matmul gives
    each thread whole members, so 7 members on 2 threads leave one idle an eighth of the
    time). Measured in docs/performance.md; not with bf16, on few rows, or in training."""
    return (x.device.type == "cpu" and not torch.is_grad_enabled()
            and x.dtype == w.dtype == torch.float32 and not autocast_on_cpu()
            and x.shape[-2] >= PER_MEMBER_MIN_ROWS and w.shape[-1] > 1
            and w.shape[0] % torch.get_num_threads() != 0)


class Standardizer(nn.Module):
    """Per-dimension mean/std fitted on real data; a near-constant dimension gets std 1."""

    def __init__(self, dim: int, min_std: float = 1e-6):
        super().__init__()
        self.min_std = min_std
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    @torch.no_grad()
    def fit(self, x: Tensor) -> None:
        std = x.std(dim=0) if x.shape[0] > 1 else torch.ones_like(self.std)
        self.mean.copy_(x.mean(dim=0))
        self.std.copy_(torch.where(std < self.min_std, torch.ones_like(std), std))

    def normalize(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std

    def denormalize(self, x: Tensor) -> Tensor:
        return x * self.std + self.mean


ROLLOUT_ROW_MULTIPLE = 64
"""With row padding, a rollout step's networks run on a multiple of this many rows
(mbpo/shapes.py): chunks shrink as samples end, and each new row count would be a new
oneDNN primitive."""
HOLDOUT_ROW_MULTIPLE = 256
"""With row padding, holdout checks run on a multiple of this many rows: the holdout set
grows with the data, one row count per fit."""


class GaussianEnsemble(nn.Module):
    """Predicts [delta_obs, reward] in standardised target space, per member.

    `probabilistic=True` adds a log-variance head with MBPO's learned soft bounds;
    `False` is the mean-only variant trained by MSE. `row_padding` (the run's setting, not
    part of the model's state) makes the rollouts and holdout checks that call it pad their
    rows to a few shapes (mbpo/shapes.py).
    """

    def __init__(self, obs_dim: int, act_dim: int, ensemble_size: int = 7, num_elites: int = 5,
                 hidden_size: int = 200, num_layers: int = 4, probabilistic: bool = True,
                 row_padding: bool = False):
        super().__init__()
        if ensemble_size < 1:
            raise ValueError(f"model.ensemble.ensemble_size must be >= 1, got {ensemble_size}")
        if not 1 <= num_elites <= ensemble_size:
            raise ValueError(
                f"model.ensemble.num_elites must be in [1, ensemble_size={ensemble_size}], "
                f"got {num_elites}"
            )
        if hidden_size < 1 or num_layers < 1:
            raise ValueError(
                f"model.ensemble.hidden_size and num_layers must be >= 1, got {hidden_size}, "
                f"{num_layers}"
            )
        self.obs_dim, self.act_dim = obs_dim, act_dim
        self.ensemble_size, self.num_elites = ensemble_size, num_elites
        self.probabilistic = probabilistic
        in_dim, self.out_dim = obs_dim + act_dim, obs_dim + 1
        sizes = [in_dim] + [hidden_size] * num_layers
        self.hidden = nn.ModuleList(
            EnsembleLinear(ensemble_size, i, o) for i, o in zip(sizes[:-1], sizes[1:])
        )
        head_dim = 2 * self.out_dim if probabilistic else self.out_dim
        self.head = EnsembleLinear(ensemble_size, hidden_size, head_dim)
        if probabilistic:
            self.max_logvar = nn.Parameter(torch.full((ensemble_size, 1, self.out_dim), 0.5))
            self.min_logvar = nn.Parameter(torch.full((ensemble_size, 1, self.out_dim), -10.0))
        self.input_norm = Standardizer(in_dim)
        self.target_norm = Standardizer(self.out_dim)
        self.register_buffer("elite_idx", torch.arange(num_elites))
        self.row_padding = row_padding

    @property
    def rollout_row_multiple(self) -> int:
        return ROLLOUT_ROW_MULTIPLE if self.row_padding else 1

    @property
    def holdout_row_multiple(self) -> int:
        return HOLDOUT_ROW_MULTIPLE if self.row_padding else 1

    @property
    def linear_layers(self) -> list[EnsembleLinear]:
        return [*self.hidden, self.head]

    def forward(self, obs: Tensor, act: Tensor, bound: bool = True) -> tuple[Tensor, Tensor | None]:
        """obs/act [B, .] shared by all members or [E, B, .] per member -> mean, logvar [E, B, D]."""
        return self.forward_inputs(torch.cat([obs, act], dim=-1), bound)

    def forward_inputs(self, inputs: Tensor, bound: bool = True) -> tuple[Tensor, Tensor | None]:
        """Mean and logvar [E, B, D]; `bound=False` leaves logvar raw, for callers that
        need it for one member per sample only (rollouts bound 1/E of it)."""
        x = self.input_norm.normalize(inputs)
        for layer in self.hidden:
            x = F.silu(layer(x))
        out = self.head(x).float()  # fp32 even under bf16 autocast: losses and Var stay exact
        if not self.probabilistic:
            return out, None
        mean, raw_logvar = out.split(self.out_dim, dim=-1)
        return mean, self.bound_logvar(raw_logvar) if bound else raw_logvar

    def bound_logvar(self, raw: Tensor, members: Tensor | None = None) -> Tensor:
        """Soft bounds (Chua et al. 2018, PETS appendix A.1): logvar in a learned range.
        raw [E, B, D] for all members, or [B, D] with `members` [B] naming each row's."""
        hi, lo = self.max_logvar, self.min_logvar  # [E, 1, D]
        if members is not None:
            hi, lo = hi[members, 0], lo[members, 0]  # [B, D]
        logvar = hi - F.softplus(hi - raw)
        return lo + F.softplus(logvar - lo)

    def to_raw(self, normalized_targets: Tensor) -> tuple[Tensor, Tensor]:
        """Standardised [.., obs_dim + 1] -> (delta_obs, reward) in env units."""
        raw = self.target_norm.denormalize(normalized_targets)
        return raw[..., :-1], raw[..., -1]
