import math

import pytest
import torch

from mbpo.schedules import AdaptiveHorizon, FixedHorizon, LinearHorizon, adaptive_horizon
from mbpo.uncertainty import epistemic_variance


def test_variance_matches_unbiased_formula_on_known_numbers():
    # 3 members, 2 samples, 2 output dims.
    means = torch.tensor([
        [[1.0, 0.0], [2.0, 2.0]],
        [[3.0, 0.0], [2.0, 4.0]],
        [[5.0, 0.0], [2.0, 6.0]],
    ])
    # sample 0: dim0 values 1,3,5 -> mean 3, sum sq 8, /(N-1)=4; dim1 all 0 -> 0; avg = 2
    # sample 1: dim0 constant -> 0; dim1 2,4,6 -> 4; avg = 2
    assert torch.allclose(epistemic_variance(means), torch.tensor([2.0, 2.0]))


def test_variance_is_zero_when_members_agree_and_needs_two_members():
    assert torch.equal(epistemic_variance(torch.ones(5, 4, 3)), torch.zeros(4))
    with pytest.raises(ValueError, match="at least 2"):
        epistemic_variance(torch.ones(1, 4, 3))


def test_adaptive_horizon_formula_rounding_and_clipping():
    assert adaptive_horizon(0.0, beta=10.0, h_base=15, h_min=1, h_max=15) == 15
    expected = math.floor(15 * math.exp(-10.0 * 0.05) + 0.5)  # 9.1 -> 9
    assert adaptive_horizon(0.05, beta=10.0, h_base=15, h_min=1, h_max=15) == expected == 9
    assert adaptive_horizon(100.0, beta=10.0, h_base=15, h_min=3, h_max=15) == 3
    assert adaptive_horizon(0.0, beta=1.0, h_base=40, h_min=1, h_max=20) == 20


@pytest.mark.parametrize("var", [0.0, 0.01, 0.05, 0.2, 1.0])
def test_adaptive_horizon_decreases_with_beta(var):
    hs = [adaptive_horizon(var, beta=b, h_base=20, h_min=1, h_max=20) for b in [0, 1, 5, 20, 100]]
    assert hs == sorted(hs, reverse=True)


@pytest.mark.parametrize("beta", [0.5, 5.0, 50.0])
def test_adaptive_horizon_decreases_with_variance(beta):
    hs = [adaptive_horizon(v, beta=beta, h_base=20, h_min=1, h_max=20)
          for v in [0.0, 0.001, 0.01, 0.1, 1.0, 10.0]]
    assert hs == sorted(hs, reverse=True)
    assert hs[0] == 20 and hs[-1] == 1


def test_adaptive_schedule_uses_the_mean_variance_of_the_start_states():
    schedule = AdaptiveHorizon(beta=10.0, h_min=1, h_max=15)
    per_sample = torch.tensor([0.0, 0.1])  # mean 0.05 -> 9
    assert schedule.plan(epoch=0, uncertainty=per_sample).horizon == 9


def test_linear_schedule_matches_mbpo():
    s = LinearHorizon(epoch_a=20, epoch_b=150, h_a=1, h_b=15)
    assert [s.horizon(e) for e in (0, 20, 85, 150, 400)] == [1, 1, 8, 15, 15]
    assert FixedHorizon(h=4).plan(3, torch.zeros(2)).horizon == 4


@pytest.mark.parametrize("kwargs, field", [
    ({"beta": -1.0, "h_min": 1, "h_max": 5}, "rollout.beta"),
    ({"beta": 1.0, "h_min": 6, "h_max": 5}, "rollout.h_min"),
    ({"beta": 1.0, "h_min": 0, "h_max": 5}, "rollout.h_min"),
    ({"beta": 1.0, "h_min": 1, "h_max": 5, "h_base": 0.0}, "rollout.h_base"),
])
def test_adaptive_schedule_rejects_bad_values_naming_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        AdaptiveHorizon(**kwargs)
