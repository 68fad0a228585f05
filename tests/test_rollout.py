import numpy as np
import pytest
import torch

from mbpo.buffer import TransitionBuffer
from mbpo.ensemble import GaussianEnsemble
from mbpo.envs import never_rule
from mbpo.rollout import first_step, propagate, rollout_model
from mbpo.sac import Actor
from mbpo.schedules import FixedHorizon, RolloutPlan

OBS, ACT = 3, 2


class MemberIndexModel(GaussianEnsemble):
    """Member i predicts delta_obs = i and reward = i for every input (identity normalisers)."""

    def forward_inputs(self, inputs, bound=True):
        e = torch.arange(self.ensemble_size, dtype=inputs.dtype).view(-1, 1, 1)
        mean = e.expand(-1, inputs.shape[-2], self.out_dim).clone()
        return mean, None


def actor():
    return Actor(OBS, ACT, 8, 1, np.full(ACT, -1.0), np.full(ACT, 1.0))


def buffer(cap=10_000):
    return TransitionBuffer(OBS, ACT, cap, torch.device("cpu"))


def test_propagation_draws_only_from_elites_and_mixes_them():
    model = MemberIndexModel(OBS, ACT, ensemble_size=5, num_elites=2)
    model.elite_idx.copy_(torch.tensor([1, 3]))
    obs = torch.zeros(2000, OBS)
    mean, _ = model(obs, torch.zeros(2000, ACT))
    next_obs, rew = propagate(model, obs, mean, None, bounded=True)
    assert set(rew.tolist()) == {1.0, 3.0}
    assert torch.equal(next_obs[:, 0], rew)


def test_probabilistic_propagation_samples_noise():
    model = GaussianEnsemble(OBS, ACT, ensemble_size=3, num_elites=3, hidden_size=8, num_layers=1)
    obs, act = torch.randn(64, OBS), torch.randn(64, ACT)
    mean, raw_logvar = model(obs, act, bound=False)
    a, _ = propagate(model, obs, mean, raw_logvar, bounded=False)
    b, _ = propagate(model, obs, mean, raw_logvar, bounded=False)
    assert not torch.allclose(a, b)


def test_bounding_one_member_per_row_equals_bounding_all_then_picking():
    model = GaussianEnsemble(OBS, ACT, ensemble_size=4, num_elites=4, hidden_size=8, num_layers=1)
    with torch.no_grad():  # distinct bounds per member, so a wrong member index shows
        model.max_logvar.copy_(torch.rand(4, 1, OBS + 1))
        model.min_logvar.copy_(-5 - torch.rand(4, 1, OBS + 1))
    raw = torch.randn(4, 50, OBS + 1) * 5
    member, rows = torch.randint(4, (50,)), torch.arange(50)
    expected = model.bound_logvar(raw)[member, rows]
    assert torch.allclose(model.bound_logvar(raw[member, rows], member), expected)
    bounded = model(torch.randn(50, OBS), torch.randn(50, ACT))[1]
    assert (bounded <= model.max_logvar).all() and (bounded >= model.min_logvar).all()


def test_rollout_runs_the_planned_horizon_from_every_start_state():
    model = MemberIndexModel(OBS, ACT, ensemble_size=3, num_elites=3)
    buf = buffer()
    plan = FixedHorizon(h=4).plan(0, torch.zeros(1))
    first = first_step(model, actor(), torch.zeros(100, OBS), chunk_size=32)
    stats = rollout_model(model, actor(), first, plan, never_rule(), buf, chunk_size=32)
    assert stats.transitions == len(buf) == 400
    assert stats.mean_length == 4.0 and stats.truncated_frac == 0.0


def test_terminated_samples_stop():
    model = MemberIndexModel(OBS, ACT, ensemble_size=3, num_elites=1)
    model.elite_idx.fill_(1)  # every step adds 1 to each obs dim

    def ends_above_two(obs, act, next_obs):
        return next_obs[:, 0] > 2.0

    start = torch.tensor([[0.0] * OBS, [1.5] * OBS])
    buf = buffer()
    first = first_step(model, actor(), start, 8)
    stats = rollout_model(model, actor(), first, RolloutPlan(5), ends_above_two, buf, 8)
    # sample 0: 0->1->2->3 (ends on step 3); sample 1: 1.5->2.5 (ends on step 1)
    assert stats.transitions == 4
    assert buf.all().terminated.tolist() == [0.0, 1.0, 0.0, 1.0]


def test_per_sample_mask_ends_samples_and_counts_them():
    model = MemberIndexModel(OBS, ACT, ensemble_size=3, num_elites=3)
    start = torch.zeros(10, OBS)
    calls = []

    def keep_first_half(uncertainty, step):
        calls.append(step)
        keep = torch.zeros(uncertainty.shape[0], dtype=torch.bool)
        keep[: uncertainty.shape[0] // 2] = True
        return keep

    stats = rollout_model(model, actor(), first_step(model, actor(), start, 100),
                          RolloutPlan(3, keep_first_half), never_rule(), buffer(), 100)
    # the mask is applied before writing: each step keeps the first half (rounded down)
    assert stats.transitions == 5 + 2 + 1
    assert stats.truncated_frac == (5 + 3 + 1) / 10
    assert calls == [0, 1, 2]


def test_first_step_uncertainty_is_the_member_variance():
    model = MemberIndexModel(OBS, ACT, ensemble_size=3, num_elites=3)
    first = first_step(model, actor(), torch.zeros(7, OBS), chunk_size=3)
    assert torch.allclose(first.var, torch.ones(7))  # members predict 0, 1, 2 -> var 1
    assert first.obs.shape == first.next_obs.shape == (7, OBS) and first.act.shape == (7, ACT)


def test_first_step_is_the_rollouts_first_transition():
    model = MemberIndexModel(OBS, ACT, ensemble_size=3, num_elites=3)
    first = first_step(model, actor(), torch.randn(20, OBS), chunk_size=8)
    buf = buffer()
    rollout_model(model, actor(), first, RolloutPlan(1), never_rule(), buf, chunk_size=8)
    written = buf.all()
    assert torch.equal(written.obs, first.obs) and torch.equal(written.act, first.act)
    assert torch.equal(written.next_obs, first.next_obs) and torch.equal(written.rew, first.rew)


def test_non_finite_predictions_end_their_samples_unwritten():
    model = MemberIndexModel(OBS, ACT, ensemble_size=3, num_elites=1)
    model.elite_idx.fill_(1)
    start = torch.zeros(4, OBS)
    start[1, 0] = float("nan")  # this sample's prediction is NaN from the first step
    buf = buffer()
    stats = rollout_model(model, actor(), first_step(model, actor(), start, 8), RolloutPlan(3),
                          never_rule(), buf, 8)
    assert stats.transitions == 3 * 3
    assert torch.isfinite(buf.all().next_obs).all()


class CounterSpreadModel(GaussianEnsemble):
    """obs = [_, spread, counter]: members disagree by `spread` only when counter == 1; the
    elite (the middle member) keeps spread and adds 1 to the counter."""

    def forward_inputs(self, inputs, bound=True):
        e = torch.arange(self.ensemble_size, dtype=inputs.dtype).view(-1, 1) - 1.0
        spread = inputs[..., 1] * (inputs[..., 2].round() == 1)
        mean = torch.zeros(self.ensemble_size, inputs.shape[-2], self.out_dim)
        mean[..., 0] = e * spread
        mean[..., 2] = 1.0
        return mean, None


def test_mask_stops_exactly_the_samples_over_threshold_and_never_resumes_them():
    model = CounterSpreadModel(OBS, ACT, ensemble_size=3, num_elites=1)
    model.elite_idx.fill_(1)  # the middle member: no offset, deterministic path
    start = torch.tensor([[0.0, 0.1, 0.0], [0.0, 5.0, 0.0], [0.0, 0.2, 0.0]])
    threshold = 1.0  # var at counter 1 = spread^2 * 1 / 4 dims: 0.0025, 6.25, 0.01
    first = first_step(model, actor(), start, 8)
    assert torch.equal(first.var, torch.zeros(3))
    buf = buffer()
    stats = rollout_model(model, actor(), first,
                          RolloutPlan(4, lambda var, step: var <= threshold), never_rule(), buf, 8)
    written = buf.all()
    spreads = written.obs[:, 1].tolist()
    # sample with spread 5 is written once (step 0), stopped at step 1, and never again
    assert spreads.count(5.0) == 1
    assert spreads.count(pytest.approx(0.1)) == 4 and spreads.count(pytest.approx(0.2)) == 4
    assert stats.truncated_frac == pytest.approx(1 / 3)


def test_masked_rollout_of_a_certain_model_runs_to_h_max():
    from mbpo.schedules import MaskedHorizon

    model = MemberIndexModel(OBS, ACT, ensemble_size=3, num_elites=3)
    model.forward_inputs = lambda inputs, bound=True: (torch.zeros(3, inputs.shape[-2], OBS + 1), None)
    schedule = MaskedHorizon(h_max=6, quantile=0.9)
    first = first_step(model, actor(), torch.randn(50, OBS), 16)
    plan = schedule.plan(0, first.var)
    stats = rollout_model(model, actor(), first, plan, never_rule(), buffer(), 16)
    assert plan.horizon == 6 and stats.mean_length == 6.0 and stats.truncated_frac == 0.0
    assert plan.info == {"threshold": 0.0}


def test_threshold_is_smoothed_over_phases_and_checkpointable():
    from mbpo.schedules import MaskedHorizon

    schedule = MaskedHorizon(h_max=5, quantile=0.5, xi=2.0, smoothing=0.25)
    assert schedule.plan(0, torch.tensor([1.0, 2.0, 3.0])).info["threshold"] == 4.0
    assert schedule.plan(1, torch.tensor([3.0, 4.0, 5.0])).info["threshold"] == 4.0 + 0.25 * 4
    restored = MaskedHorizon(h_max=5, quantile=0.5, xi=2.0, smoothing=0.25)
    restored.load_state_dict(schedule.state_dict())
    assert restored.rule.threshold == 5.0
