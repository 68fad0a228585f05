import pytest
import torch

from mbpo.buffer import Batch
from mbpo.diagnostic import kstep_diagnostic, spearman
from mbpo.ensemble import GaussianEnsemble

OBS, ACT = 3, 1
A = torch.tensor([[0.0, 0.1, 0.0], [-0.1, 0.0, 0.0], [0.0, 0.0, -0.05]])
B = torch.tensor([[0.0], [0.1], [0.05]])


def true_delta(obs, act):
    return obs @ A.T + act @ B.T


def trajectories(episodes=6, length=8):
    """Real transitions of the linear system, episode after episode, oldest first."""
    torch.manual_seed(0)
    rows = []
    for _ in range(episodes):
        obs = torch.randn(OBS)
        for _ in range(length):
            act = torch.rand(ACT) * 2 - 1
            nxt = obs + true_delta(obs, act)
            rows.append((obs, act, nxt))
            obs = nxt
    obs, act, nxt = (torch.stack(x) for x in zip(*rows))
    n = obs.shape[0]
    return Batch(obs, act, torch.zeros(n), nxt, torch.zeros(n))


class ExactModel(GaussianEnsemble):
    """Every member equals the true dynamics (identity normalisers)."""

    def __init__(self, bias=0.0):
        super().__init__(OBS, ACT, ensemble_size=4, num_elites=2, hidden_size=4, num_layers=1,
                         probabilistic=False)
        self.bias = bias

    def forward_inputs(self, inputs, bound=True):
        obs, act = inputs[..., :OBS], inputs[..., OBS:]
        delta = true_delta(obs, act) + self.bias * torch.arange(4.0).view(-1, 1, 1)
        return torch.cat([delta, torch.zeros(*delta.shape[:-1], 1)], dim=-1), None


def test_kstep_error_is_zero_for_the_true_dynamics():
    metrics = kstep_diagnostic(ExactModel(), trajectories(), horizon=5)
    for k in range(1, 6):
        assert metrics[f"kstep_error/{k}"] == pytest.approx(0.0, abs=1e-10)
        assert metrics[f"uncertainty/{k}"] == pytest.approx(0.0, abs=1e-12)


def test_kstep_error_grows_with_k_for_a_biased_model_and_stops_at_episode_ends():
    # elites are members 0 and 1: their mean is biased by 0.05 per step
    metrics = kstep_diagnostic(ExactModel(bias=0.1), trajectories(length=4), horizon=6)
    errors = [metrics[f"kstep_error/{k}"] for k in range(1, 5)]
    assert errors == sorted(errors) and errors[0] > 0
    assert "kstep_error/5" not in metrics  # episodes are 4 steps long: no 5-step window
    assert metrics["uncertainty/1"] > 0


def test_spearman_on_known_orderings():
    x = torch.tensor([1.0, 2.0, 3.0, 4.0])
    assert spearman(x, x * 10) == pytest.approx(1.0)
    assert spearman(x, -x) == pytest.approx(-1.0)
