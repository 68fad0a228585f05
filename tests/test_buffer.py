import numpy as np
import pytest
import torch

from mbpo.buffer import TransitionBuffer, sample_mixed


def filled(n, capacity, obs_dim=2, act_dim=1):
    buf = TransitionBuffer(obs_dim, act_dim, capacity, torch.device("cpu"))
    for i in range(n):
        buf.add(np.full(obs_dim, i), np.full(act_dim, -i), float(i), np.full(obs_dim, i + 1),
                i % 3 == 0)
    return buf


def test_fields_round_trip():
    buf = filled(4, 10)
    batch = buf.all()
    assert batch.obs[:, 0].tolist() == [0, 1, 2, 3]
    assert batch.act[:, 0].tolist() == [0, -1, -2, -3]
    assert batch.rew.tolist() == [0, 1, 2, 3]
    assert batch.next_obs[:, 1].tolist() == [1, 2, 3, 4]
    assert batch.terminated.tolist() == [1, 0, 0, 1]


def test_ring_keeps_the_newest_transitions():
    buf = filled(13, 5)
    assert len(buf) == 5
    assert buf.all().rew.tolist() == [8, 9, 10, 11, 12]
    sampled = buf.sample(1000).rew
    assert set(sampled.tolist()) == {8, 9, 10, 11, 12}


def test_batch_larger_than_capacity_keeps_its_tail():
    buf = TransitionBuffer(1, 1, 4, torch.device("cpu"))
    n = 7
    x = torch.arange(n, dtype=torch.float32).unsqueeze(-1)
    buf.add_batch(x, x, x.squeeze(-1), x, torch.zeros(n, dtype=torch.bool))
    assert buf.all().rew.tolist() == [3, 4, 5, 6]


def test_shrinking_capacity_drops_oldest_and_growing_does_not_resurrect():
    buf = filled(8, 8)
    buf.set_capacity(3)
    assert buf.all().rew.tolist() == [5, 6, 7]
    buf.set_capacity(8)
    assert buf.all().rew.tolist() == [5, 6, 7]
    buf.add(np.zeros(2), np.zeros(1), 99.0, np.zeros(2), False)
    assert buf.all().rew.tolist() == [5, 6, 7, 99]
    with pytest.raises(ValueError, match="capacity"):
        buf.set_capacity(9)


def test_mixed_batch_has_mbpo_real_ratio():
    real = filled(50, 50)  # rewards 0..49
    model = TransitionBuffer(2, 1, 100, torch.device("cpu"))
    x = torch.ones(100, 2)
    model.add_batch(x, x[:, :1], torch.full((100,), -1.0), x, torch.zeros(100, dtype=torch.bool))
    batch = sample_mixed(real, model, 256, 0.05)
    assert batch.obs.shape == (256, 2)
    assert int((batch.rew >= 0).sum()) == int(256 * 0.05) == 12


def test_mixed_batch_uses_real_data_until_the_model_buffer_fills():
    real = filled(10, 10)
    model = TransitionBuffer(2, 1, 10, torch.device("cpu"))
    assert bool((sample_mixed(real, model, 64, 0.05).rew >= 0).all())
