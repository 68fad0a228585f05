"""Each model-rollout termination rule agrees with the real gymnasium v5 env's `terminated`."""

import numpy as np
import pytest
import torch

from mbpo.envs import make_env, termination_fn

ENVS = {
    "Hopper-v5": {},
    "Walker2d-v5": {},
    "Ant-v5": {"include_cfrc_ext_in_observation": False},
    "Humanoid-v5": {"include_cinert_in_observation": False, "include_cvel_in_observation": False,
                    "include_qfrc_actuator_in_observation": False,
                    "include_cfrc_ext_in_observation": False},
    "InvertedPendulum-v5": {},
    "HalfCheetah-v5": {},
}


def real_transitions(env_id, kwargs, episodes=12, max_steps=150):
    """Random-action trajectories, half of them from kicked start states so that both
    healthy and unhealthy states (and each bound) are visited."""
    env = make_env(env_id, kwargs)
    env.action_space.seed(0)
    rng = np.random.default_rng(0)
    next_obs, terminated = [], []
    for ep in range(episodes):
        env.reset(seed=ep)
        sim = env.unwrapped
        if ep % 2:
            qpos = sim.data.qpos.copy()
            qvel = sim.data.qvel.copy() + rng.normal(0.0, 3.0, sim.data.qvel.shape)
            if env_id == "Ant-v5":
                qpos[2] = rng.uniform(0.05, 1.4)  # both sides of the healthy z range
            sim.set_state(qpos, qvel)
        for _ in range(max_steps):
            obs, _, term, trunc, _ = env.step(env.action_space.sample())
            next_obs.append(obs)
            terminated.append(term)
            if term or trunc:
                break
    env.close()
    return torch.as_tensor(np.array(next_obs), dtype=torch.float32), np.array(terminated)


@pytest.mark.parametrize("env_id", list(ENVS))
def test_rule_matches_real_env_terminated(env_id):
    kwargs = ENVS[env_id]
    next_obs, terminated = real_transitions(env_id, kwargs)
    predicted = termination_fn(env_id, kwargs)(None, None, next_obs).numpy()
    assert predicted.dtype == np.bool_
    np.testing.assert_array_equal(predicted, terminated)
    if env_id == "HalfCheetah-v5":
        assert not terminated.any()
    else:  # the check covered both outcomes
        assert terminated.any() and (~terminated).any()


def test_truncated_observations_match_mbpo_sizes():
    assert make_env("Ant-v5", ENVS["Ant-v5"]).observation_space.shape == (27,)
    assert make_env("Humanoid-v5", ENVS["Humanoid-v5"]).observation_space.shape == (45,)


def test_rule_follows_overridden_healthy_range():
    rule = termination_fn("Hopper-v5", {"healthy_z_range": [0.5, 10.0]})
    obs = torch.zeros(2, 11)
    obs[:, 0] = torch.tensor([0.6, 0.4])
    assert rule(None, None, obs).tolist() == [False, True]


def test_unknown_env_is_rejected_by_name():
    with pytest.raises(ValueError, match="env.id='Pong-v5'.*env.termination"):
        termination_fn("Pong-v5")
