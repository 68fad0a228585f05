"""Evaluation episodes: the deterministic policy on its own env instance, the returns a run
reports (eval/return) and `mbpo.evaluate` prints."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from mbpo.sac import SAC


def evaluate_policy(env: gym.Env, agent: SAC, episodes: int) -> tuple[float, float]:
    """Mean and std of the undiscounted return of the mean action over `episodes` episodes."""
    returns = []
    for _ in range(episodes):
        obs, _ = env.reset()
        total, done = 0.0, False
        while not done:
            obs, rew, terminated, truncated, _ = env.step(agent.act(obs, deterministic=True))
            total += float(rew)
            done = terminated or truncated
        returns.append(total)
    return float(np.mean(returns)), float(np.std(returns))
