"""Row padding keeps oneDNN's matmul shapes few (mbpo/shapes.py) and changes no result."""

import numpy as np
import torch

from mbpo import rollout
from mbpo.ensemble import HOLDOUT_ROW_MULTIPLE, GaussianEnsemble
from mbpo.model_training import EnsembleTrainer
from mbpo.sac import Actor
from mbpo.shapes import pad_rows, padded_rows

OBS, ACT = 3, 2


def test_pad_rows_appends_zero_rows_up_to_a_multiple():
    x = torch.randn(5, 3)
    padded = pad_rows(x, 4)
    assert padded.shape == (8, 3) and padded_rows(5, 4) == 8
    assert torch.equal(padded[:5], x) and torch.equal(padded[5:], torch.zeros(3, 3))
    assert pad_rows(x, 5) is x


def test_padded_rollout_step_equals_the_unpadded_one():
    """Padding reaches only the networks: the same seed gives the same actions, transitions
    and uncertainty, row for row, as a step on the exact rows."""
    torch.manual_seed(0)
    model = GaussianEnsemble(OBS, ACT, ensemble_size=5, num_elites=3, hidden_size=16, num_layers=2)
    actor = Actor(OBS, ACT, 16, 2, np.full(ACT, -1.0), np.full(ACT, 1.0))
    obs = torch.randn(37, OBS)
    steps = []
    for padding in (True, False):
        model.row_padding = padding
        torch.manual_seed(1)
        steps.append(rollout.model_step(model, actor, obs))
    for padded, exact in zip(*steps):
        assert padded.shape == exact.shape
        torch.testing.assert_close(padded, exact, rtol=1e-5, atol=1e-6)


def fit(row_padding, n=203):
    torch.manual_seed(0)
    model = GaussianEnsemble(OBS, ACT, ensemble_size=3, num_elites=2, hidden_size=8, num_layers=1,
                             row_padding=row_padding)
    trainer = EnsembleTrainer(model, batch_size=32, weight_decays=[0.0, 0.0], max_epochs=2)
    obs, act = torch.randn(n, OBS), torch.randn(n, ACT)
    metrics = trainer.fit(obs, act, obs.sum(-1), obs + 0.1 * act.sum(-1, keepdim=True))
    return metrics, model


def test_padded_holdout_check_equals_the_unpadded_one():
    padded, padded_model = fit(True)
    exact, exact_model = fit(False)
    assert padded_model.holdout_row_multiple == HOLDOUT_ROW_MULTIPLE > 1
    assert np.isclose(padded["holdout_mse"], exact["holdout_mse"], rtol=1e-6, atol=0)
    assert torch.equal(padded_model.elite_idx, exact_model.elite_idx)


def test_padded_probe_gives_the_unpadded_signals():
    from mbpo.envs import never_rule
    from mbpo.probe import probe_signals

    torch.manual_seed(0)
    model = GaussianEnsemble(OBS, ACT, ensemble_size=5, num_elites=3, hidden_size=16, num_layers=2)
    actor = Actor(OBS, ACT, 16, 2, np.full(ACT, -1.0), np.full(ACT, 1.0))
    obs = torch.randn(37, OBS)
    signals = []
    for padding in (True, False):
        model.row_padding = padding
        signals.append(probe_signals(model, actor, obs, 4, never_rule(), seed=5))
    assert signals[0].keys() == signals[1].keys() and np.isfinite(list(signals[0].values())).all()
    for name in signals[0]:
        assert np.isclose(signals[0][name], signals[1][name], rtol=1e-5, atol=0), name
