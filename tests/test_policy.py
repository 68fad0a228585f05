"""A trained policy is one call away, and a plain file runs without this package."""

import numpy as np
import pytest
import torch

from mbpo.checkpoint import load_checked
from mbpo.checkpoint_file import CheckpointError
from mbpo.train import train


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from hydra import compose, initialize_config_dir

    from tests.conftest import CONF_DIR

    with initialize_config_dir(config_dir=CONF_DIR, version_base=None):
        cfg = compose(config_name="config", overrides=["env=hopper", "experiment=debug",
                                                       "total_steps=200", "threads=1"])
    path = tmp_path_factory.mktemp("run")
    train(cfg, path, console=False)
    return path


def test_load_policy_acts_as_the_trained_agent(run_dir):
    from mbpo import load_policy
    from mbpo.policy import actor_from_state

    policy = load_policy(run_dir)
    obs = np.random.default_rng(0).normal(size=(4, 11))
    state = load_checked(run_dir / "checkpoint.pt", None)
    actor = actor_from_state(state["agent"]["modules"])
    expected = actor.deterministic(torch.as_tensor(obs, dtype=torch.float32)).detach().numpy()
    np.testing.assert_array_equal(policy(obs), expected)
    assert policy(obs[0]).shape == (3,) and np.all(np.abs(policy(obs)) <= 1.0)
    assert policy.step == 200
    sampled = load_policy(run_dir, deterministic=False)
    assert not np.array_equal(sampled(obs), expected)
    with pytest.raises(ValueError, match="size 5"):
        policy(np.zeros(5))


def test_the_exported_file_runs_with_plain_torch(run_dir, tmp_path):
    from mbpo import export_policy, load_policy

    path = export_policy(run_dir, tmp_path / "policy.pt")
    p = torch.load(path, weights_only=True)  # plain tensors: no mbpo class inside
    obs = np.random.default_rng(1).normal(size=(3, 11))
    x = torch.as_tensor(obs, dtype=torch.float32)
    for i, (w, b) in enumerate(zip(p["weights"], p["biases"])):  # the docstring's recipe
        x = x @ w.T + b
        if i < len(p["weights"]) - 1:
            x = torch.relu(x)
    action = torch.tanh(x[..., : p["act_dim"]]) * p["scale"] + p["offset"]
    np.testing.assert_allclose(action.numpy(), load_policy(run_dir)(obs), rtol=1e-5, atol=1e-6)


def test_a_damaged_checkpoint_gives_no_policy(run_dir, tmp_path):
    from mbpo import load_policy

    data = bytearray((run_dir / "checkpoint.pt").read_bytes())
    data[-100] ^= 1
    (tmp_path / "checkpoint.pt").write_bytes(data)
    with pytest.raises(CheckpointError, match="damaged"):
        load_policy(tmp_path)
