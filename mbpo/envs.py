"""Real environments and the termination rules that model rollouts apply to predicted states.

Each rule restates gymnasium v5's `terminated` condition on the observation alone,
with the env's own healthy ranges (taken from the env kwargs when given), so a model
rollout ends where the real episode would. tests/test_termination.py checks every rule
against the real env's flag on real trajectories.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import gymnasium as gym
import torch
from torch import Tensor

TerminationFn = Callable[[Tensor], Tensor]
"""Maps next observations [B, obs_dim] to a bool tensor [B]: True where the episode ends."""

INF = math.inf


def _inside(x: Tensor, bounds: tuple[float, float], closed: bool = False) -> Tensor:
    low, high = bounds
    if closed:
        return (x >= low) & (x <= high)
    return (x > low) & (x < high)


def hopper_rule(
    healthy_state_range: tuple[float, float] = (-100.0, 100.0),
    healthy_z_range: tuple[float, float] = (0.7, INF),
    healthy_angle_range: tuple[float, float] = (-0.2, 0.2),
) -> TerminationFn:
    # obs = [z, angle, joint angles, clipped velocities]; gymnasium checks obs[1:] against
    # the state range (its velocities are unclipped, which only matters beyond |v| > 100).
    def terminated(next_obs: Tensor) -> Tensor:
        healthy = (
            _inside(next_obs[:, 1:], healthy_state_range).all(dim=-1)
            & _inside(next_obs[:, 0], healthy_z_range)
            & _inside(next_obs[:, 1], healthy_angle_range)
        )
        return ~healthy

    return terminated


def walker2d_rule(
    healthy_z_range: tuple[float, float] = (0.8, 2.0),
    healthy_angle_range: tuple[float, float] = (-1.0, 1.0),
) -> TerminationFn:
    def terminated(next_obs: Tensor) -> Tensor:
        healthy = _inside(next_obs[:, 0], healthy_z_range) & _inside(
            next_obs[:, 1], healthy_angle_range
        )
        return ~healthy

    return terminated


def ant_rule(healthy_z_range: tuple[float, float] = (0.2, 1.0)) -> TerminationFn:
    # Ant's check is on the closed interval and also ends on any non-finite state.
    def terminated(next_obs: Tensor) -> Tensor:
        healthy = torch.isfinite(next_obs).all(dim=-1) & _inside(
            next_obs[:, 0], healthy_z_range, closed=True
        )
        return ~healthy

    return terminated


def humanoid_rule(healthy_z_range: tuple[float, float] = (1.0, 2.0)) -> TerminationFn:
    def terminated(next_obs: Tensor) -> Tensor:
        return ~_inside(next_obs[:, 0], healthy_z_range)

    return terminated


def inverted_pendulum_rule() -> TerminationFn:
    def terminated(next_obs: Tensor) -> Tensor:
        return ~torch.isfinite(next_obs).all(dim=-1) | (next_obs[:, 1].abs() > 0.2)

    return terminated


def never_rule() -> TerminationFn:
    """HalfCheetah never terminates; only the time limit truncates."""

    def terminated(next_obs: Tensor) -> Tensor:
        return torch.zeros(next_obs.shape[0], dtype=torch.bool, device=next_obs.device)

    return terminated


_RULES: dict[str, tuple[Callable[..., TerminationFn], tuple[str, ...]]] = {
    "Hopper-v5": (hopper_rule, ("healthy_state_range", "healthy_z_range", "healthy_angle_range")),
    "Walker2d-v5": (walker2d_rule, ("healthy_z_range", "healthy_angle_range")),
    "Ant-v5": (ant_rule, ("healthy_z_range",)),
    "Humanoid-v5": (humanoid_rule, ("healthy_z_range",)),
    "InvertedPendulum-v5": (inverted_pendulum_rule, ()),
    "HalfCheetah-v5": (never_rule, ()),
}

SUPPORTED_ENVS = tuple(_RULES)


def termination_fn(env_id: str, env_kwargs: Mapping[str, Any] | None = None) -> TerminationFn:
    """The rule for `env_id`, with any healthy ranges overridden in the env kwargs."""
    if env_id not in _RULES:
        raise ValueError(f"env.id={env_id!r} has no termination rule; supported: {SUPPORTED_ENVS}")
    kwargs = dict(env_kwargs or {})
    if kwargs.get("terminate_when_unhealthy") is False:
        return never_rule()
    build, range_names = _RULES[env_id]
    return build(**{k: tuple(kwargs[k]) for k in range_names if k in kwargs})


def make_env(env_id: str, env_kwargs: Mapping[str, Any] | None = None) -> gym.Env:
    """A gymnasium env with its standard TimeLimit, which reports `truncated`, not `terminated`."""
    if env_id not in _RULES:
        raise ValueError(f"env.id={env_id!r} is not supported; choose one of {SUPPORTED_ENVS}")
    return gym.make(env_id, **dict(env_kwargs or {}))
