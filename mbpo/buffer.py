"""Preallocated ring buffer of transitions, stored packed so one gather samples a batch.

Storage is allocated once at the largest capacity the run can need; the logical
capacity can shrink or grow below that (MBPO resizes the model buffer whenever the
horizon changes) without moving data: only the newest `size` rows are ever sampled.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor


class Batch(NamedTuple):
    obs: Tensor  # [B, obs_dim]
    act: Tensor  # [B, act_dim]
    rew: Tensor  # [B]
    next_obs: Tensor  # [B, obs_dim]
    terminated: Tensor  # [B] float, 1.0 where bootstrapping stops


class TransitionBuffer:
    def __init__(self, obs_dim: int, act_dim: int, max_capacity: int, device: torch.device):
        if max_capacity < 1:
            raise ValueError(f"buffer max_capacity must be >= 1, got {max_capacity}")
        self.obs_dim, self.act_dim = obs_dim, act_dim
        self.width = 2 * obs_dim + act_dim + 2
        self.max_capacity = max_capacity
        self.device = torch.device(device)
        self.data = torch.empty(max_capacity, self.width, device=self.device)
        self.capacity = max_capacity
        self.ptr = 0  # next row to write
        self.size = 0  # valid rows, the newest ones before ptr

    def __len__(self) -> int:
        return self.size

    def set_capacity(self, capacity: int) -> None:
        """Keep at most `capacity` newest transitions from now on; older ones are dropped."""
        if not 1 <= capacity <= self.max_capacity:
            raise ValueError(f"capacity must be in [1, {self.max_capacity}], got {capacity}")
        self.capacity = capacity
        self.size = min(self.size, capacity)

    def add(self, obs: np.ndarray, act: np.ndarray, rew: float, next_obs: np.ndarray,
            terminated: bool) -> None:
        """Add one real transition (host arrays)."""
        row = np.concatenate([obs, act, [rew], next_obs, [float(terminated)]]).astype(np.float32)
        self._write(torch.from_numpy(row).to(self.device).unsqueeze(0))

    def add_batch(self, obs: Tensor, act: Tensor, rew: Tensor, next_obs: Tensor,
                  terminated: Tensor) -> None:
        """Add a batch of transitions already on the device."""
        rows = torch.cat(
            [obs, act, rew.unsqueeze(-1), next_obs, terminated.to(obs.dtype).unsqueeze(-1)], dim=-1
        )
        self._write(rows)

    def _write(self, rows: Tensor) -> None:
        n = rows.shape[0]
        if n > self.capacity:  # only the newest rows can survive
            rows, n = rows[-self.capacity:], self.capacity
        first = min(n, self.max_capacity - self.ptr)
        self.data[self.ptr : self.ptr + first] = rows[:first]
        if first < n:
            self.data[: n - first] = rows[first:]
        self.ptr = (self.ptr + n) % self.max_capacity
        self.size = min(self.size + n, self.capacity)

    def _random_rows(self, batch_size: int) -> Tensor:
        if self.size == 0:
            raise RuntimeError("cannot sample from an empty buffer")
        back = torch.randint(1, self.size + 1, (batch_size,), device=self.device)
        return self.data[(self.ptr - back) % self.max_capacity]

    def split(self, rows: Tensor) -> Batch:
        o, a = self.obs_dim, self.act_dim
        return Batch(
            obs=rows[:, :o],
            act=rows[:, o : o + a],
            rew=rows[:, o + a],
            next_obs=rows[:, o + a + 1 : 2 * o + a + 1],
            terminated=rows[:, -1],
        )

    def sample(self, batch_size: int) -> Batch:
        return self.split(self._random_rows(batch_size))

    def sample_obs(self, batch_size: int) -> Tensor:
        return self._random_rows(batch_size)[:, : self.obs_dim]

    def _valid_index(self) -> Tensor:
        idx = self.ptr - self.size + torch.arange(self.size, device=self.device)
        return idx % self.max_capacity

    def all(self) -> Batch:
        """Every valid transition, oldest first."""
        return self.split(self.data[self._valid_index()])

    def recent(self, n: int) -> Batch:
        """The newest min(n, size) transitions, oldest first."""
        return self.split(self.data[self._valid_index()[-n:]])


    def state_dict(self) -> dict[str, object]:
        """The valid rows, oldest first (sampling is by age, so layout need not be kept)."""
        return {"rows": self.data[self._valid_index()].cpu(), "capacity": self.capacity}

    def load_state_dict(self, state: dict[str, object]) -> None:
        rows = state["rows"]
        if rows.shape[1] != self.width or rows.shape[0] > self.max_capacity:
            raise ValueError(
                f"buffer state of shape {tuple(rows.shape)} does not fit a buffer of width "
                f"{self.width} and max capacity {self.max_capacity}"
            )
        self.capacity = self.max_capacity
        self.ptr = self.size = 0
        self._write(rows.to(self.device))
        # A run resumed with a smaller total_steps has a smaller buffer; its rows fit (checked
        # above), and the capacity they were kept under cannot exceed it.
        self.set_capacity(min(int(state["capacity"]), self.max_capacity))


def sample_mixed(real: TransitionBuffer, model: TransitionBuffer, batch_size: int,
                 real_ratio: float) -> Batch:
    """MBPO's SAC batch: int(batch_size * real_ratio) real rows, the rest synthetic."""
    n_real = int(batch_size * real_ratio)
    if len(model) == 0:
        n_real = batch_size
    rows = real._random_rows(n_real) if n_real else real.data[:0]
    if n_real < batch_size:
        rows = torch.cat([rows, model._random_rows(batch_size - n_real)])
    return real.split(rows)
