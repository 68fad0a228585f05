"""Real environments and the termination rules that model rollouts apply to predicted states.

Each rule restates gymnasium v5's `terminated` condition on the observation alone,
with the env's own healthy ranges (taken from the env kwargs when given), so a model
rollout ends where the real episode would. tests/test_termination.py checks every rule
against the real env's flag on real trajectories.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Mapping
from typing import Any

import gymnasium as gym
import torch
from torch import Tensor

TerminationFn = Callable[[Tensor, Tensor, Tensor], Tensor]
"""(obs [B, obs_dim], act [B, act_dim], next_obs [B, obs_dim]) -> bool [B]: True where the
episode ends. The built-in rules read next_obs only; a user's rule may read all three."""

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
    def terminated(obs: Tensor, act: Tensor, next_obs: Tensor) -> Tensor:
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
    def terminated(obs: Tensor, act: Tensor, next_obs: Tensor) -> Tensor:
        healthy = _inside(next_obs[:, 0], healthy_z_range) & _inside(
            next_obs[:, 1], healthy_angle_range
        )
        return ~healthy

    return terminated


def ant_rule(healthy_z_range: tuple[float, float] = (0.2, 1.0)) -> TerminationFn:
    # Ant's check is on the closed interval and also ends on any non-finite state.
    def terminated(obs: Tensor, act: Tensor, next_obs: Tensor) -> Tensor:
        healthy = torch.isfinite(next_obs).all(dim=-1) & _inside(
            next_obs[:, 0], healthy_z_range, closed=True
        )
        return ~healthy

    return terminated


def humanoid_rule(healthy_z_range: tuple[float, float] = (1.0, 2.0)) -> TerminationFn:
    def terminated(obs: Tensor, act: Tensor, next_obs: Tensor) -> Tensor:
        return ~_inside(next_obs[:, 0], healthy_z_range)

    return terminated


def inverted_pendulum_rule() -> TerminationFn:
    def terminated(obs: Tensor, act: Tensor, next_obs: Tensor) -> Tensor:
        return ~torch.isfinite(next_obs).all(dim=-1) | (next_obs[:, 1].abs() > 0.2)

    return terminated


def never_rule() -> TerminationFn:
    """HalfCheetah never terminates; only the time limit truncates."""

    def terminated(obs: Tensor, act: Tensor, next_obs: Tensor) -> Tensor:
        return torch.zeros(next_obs.shape[0], dtype=torch.bool, device=next_obs.device)

    return terminated


_RULES: dict[str, tuple[Callable[..., TerminationFn], tuple[str, ...]]] = {
    "hopper": (hopper_rule, ("healthy_state_range", "healthy_z_range", "healthy_angle_range")),
    "walker2d": (walker2d_rule, ("healthy_z_range", "healthy_angle_range")),
    "ant": (ant_rule, ("healthy_z_range",)),
    "humanoid": (humanoid_rule, ("healthy_z_range",)),
    "inverted_pendulum": (inverted_pendulum_rule, ()),
    "never": (never_rule, ()),
}
"""Built-in rules by name, with the env kwargs that set their healthy ranges."""

DEFAULT_RULES = {"Hopper-v5": "hopper", "Walker2d-v5": "walker2d", "Ant-v5": "ant",
                 "Humanoid-v5": "humanoid", "InvertedPendulum-v5": "inverted_pendulum",
                 "HalfCheetah-v5": "never"}
"""The rule each MuJoCo env uses when env.termination is null (each tested against the
real env's flag)."""

SUPPORTED_ENVS = tuple(DEFAULT_RULES)


def _user_rule(path: str) -> TerminationFn:
    """`package.module:function`, imported: the user's own (obs, act, next_obs) rule."""
    module_name, _, name = path.partition(":")
    try:
        rule = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError, ValueError) as e:
        raise ValueError(f"env.termination={path!r} could not be imported ({e}); give "
                         "package.module:function") from e
    if not callable(rule):
        raise ValueError(f"env.termination={path!r} is not a function")
    return rule


def termination_fn(env_id: str, env_kwargs: Mapping[str, Any] | None = None,
                   rule: str | None = None) -> TerminationFn:
    """The termination rule: `rule` (a built-in name or package.module:function), or the
    built-in rule of `env_id` when `rule` is None; healthy ranges from the env kwargs."""
    if rule is not None and ":" in rule:
        return _user_rule(rule)
    name = rule if rule is not None else DEFAULT_RULES.get(env_id)
    if name is None:
        raise ValueError(
            f"env.id={env_id!r} has no built-in termination rule; set env.termination to "
            f"never (episodes end only by the time limit), a built-in rule "
            f"({', '.join(_RULES)}), or package.module:function for your own "
            "(obs, act, next_obs) -> terminated on batched tensors")
    if name not in _RULES:
        raise ValueError(f"env.termination={name!r} is not a built-in rule ({', '.join(_RULES)}) "
                         "nor package.module:function")
    kwargs = dict(env_kwargs or {})
    if kwargs.get("terminate_when_unhealthy") is False:
        return never_rule()
    build, range_names = _RULES[name]
    return build(**{k: tuple(kwargs[k]) for k in range_names if k in kwargs})


def make_env(env_id: str, env_kwargs: Mapping[str, Any] | None = None) -> gym.Env:
    """A gymnasium env with its standard TimeLimit, which reports `truncated`, not
    `terminated`; any registered id with a 1-D Box observation and continuous actions."""
    try:
        env = gym.make(env_id, **dict(env_kwargs or {}))
    except gym.error.Error as e:
        raise ValueError(f"env.id={env_id!r} could not be made ({e}); give a registered "
                         "gymnasium id, e.g. Hopper-v5 or Pendulum-v1") from e
    if not isinstance(env.action_space, gym.spaces.Box):
        env.close()
        raise ValueError(f"env.id={env_id!r} has {type(env.action_space).__name__} actions; SAC "
                         "here needs continuous (Box) actions")
    if not isinstance(env.observation_space, gym.spaces.Box) or len(
            env.observation_space.shape) != 1:
        env.close()
        raise ValueError(f"env.id={env_id!r} observations are not a flat Box; the model needs "
                         "a vector observation")
    return env
