"""A tiny continuous-control env, registered by gymnasium's `module:Id` syntax, with its
own termination rule: what a user brings to train on their own env."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor


class PointMass(gym.Env):
    """A point on a line pushed by the action; the episode ends when it leaves [-1, 1]."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (2,), np.float64)
    action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.state = self.np_random.uniform(-0.1, 0.1, size=2)
        return self.state.copy(), {}

    def step(self, action):
        pos, vel = self.state
        vel = 0.9 * vel + 0.1 * float(np.clip(action, -1, 1)[0])
        self.state = np.array([pos + vel, vel])
        terminated = bool(abs(self.state[0]) > 1.0)
        return self.state.copy(), -abs(self.state[0]), terminated, False, {}


def terminated(obs: Tensor, act: Tensor, next_obs: Tensor) -> Tensor:
    """The env's own rule on batched tensors."""
    return next_obs[:, 0].abs() > 1.0


gym.register("PointMass-v0", entry_point=PointMass, max_episode_steps=100)
assert torch  # the rule runs on tensors
