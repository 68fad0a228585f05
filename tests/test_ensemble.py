import pytest
import torch
from torch import nn

from mbpo import model_training
from mbpo.ensemble import EnsembleLinear, GaussianEnsemble, Standardizer
from mbpo.model_training import EnsembleTrainer
from mbpo.optim import adam_step, clear_grads


@pytest.mark.parametrize("out", [5, 1])  # 1: the multiply-sum path of a one-unit layer
def test_ensemble_linear_equals_separate_linears(out):
    layer = EnsembleLinear(3, 4, out)
    separate = [nn.Linear(4, out) for _ in range(3)]
    with torch.no_grad():
        for i, lin in enumerate(separate):
            layer.weight[i].copy_(lin.weight.T)
            layer.bias[i, 0].copy_(lin.bias)
    x = torch.randn(3, 7, 4)
    expected = torch.stack([lin(x[i]) for i, lin in enumerate(separate)])
    assert torch.allclose(layer(x), expected, atol=1e-6)
    shared = torch.randn(7, 4)  # one input for all members
    assert torch.allclose(layer(shared), torch.stack([lin(shared) for lin in separate]), atol=1e-6)


def test_per_member_matmuls_give_the_batched_result_and_only_in_fp32_cpu_inference(monkeypatch):
    """The per-member path (7 members on 2 threads, many rows, no grad, fp32) must match the
    batched matmul; with grad or under bf16 autocast the batched one runs."""
    import mbpo.ensemble as ensemble

    monkeypatch.setattr(ensemble, "PER_MEMBER_MIN_ROWS", 8)
    torch.set_num_threads(2)  # the autouse fixture sets 1 back for the next test
    layer = EnsembleLinear(7, 4, 5)
    calls = []
    real_addmm = torch.addmm
    monkeypatch.setattr(torch, "addmm", lambda *a, **k: calls.append(1) or real_addmm(*a, **k))
    for x in (torch.randn(7, 9, 4), torch.randn(9, 4)):  # per member, shared
        with torch.no_grad():
            got = layer(x)
        assert len(calls) == 7
        calls.clear()
        batched = torch.baddbmm(layer.bias, x.expand(7, -1, -1), layer.weight)
        assert torch.allclose(got, batched, atol=1e-6)
        layer(x)  # with grad: one batched matmul
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            layer(x)
        assert not calls
    torch.set_num_threads(1)
    with torch.no_grad():
        layer(torch.randn(7, 9, 4))
    assert not calls  # members that divide among the threads: batched


@pytest.mark.parametrize("out", [5, 1])
def test_frozen_ensemble_linear_passes_gradients_to_inputs_only(out):
    layer = EnsembleLinear(3, 4, out)
    x = torch.randn(3, 7, 4, requires_grad=True)
    layer(x, frozen=True).sum().backward()
    assert layer.weight.grad is None and layer.bias.grad is None
    expected = torch.autograd.grad(layer(x).sum(), x)[0]
    assert torch.allclose(x.grad, expected)


def test_standardizer_survives_constant_dimension():
    norm = Standardizer(3)
    x = torch.randn(100, 3)
    x[:, 1] = 5.0
    norm.fit(x)
    out = norm.normalize(x)
    assert torch.isfinite(out).all()
    assert torch.allclose(out[:, 1], torch.zeros(100))
    assert torch.allclose(norm.denormalize(out), x, atol=1e-5)


def sine_data(n=600):
    """1-D system on [-1, 1]: next_obs = obs + 0.5 sin(3 obs) + act, reward = obs^2."""
    obs = torch.rand(n, 1) * 2 - 1
    act = torch.rand(n, 1) * 0.2 - 0.1
    next_obs = obs + 0.5 * torch.sin(3 * obs) + act
    return obs, act, (obs**2).squeeze(-1), next_obs


@pytest.fixture(scope="module")
def fitted():
    torch.manual_seed(0)
    model = GaussianEnsemble(1, 1, ensemble_size=5, num_elites=3, hidden_size=32, num_layers=2)
    trainer = EnsembleTrainer(model, batch_size=32, weight_decays=[0.0, 0.0, 0.0],
                              max_epochs=150, patience=20)
    obs, act, rew, next_obs = sine_data()
    metrics = trainer.fit(obs, act, rew, next_obs)
    return model, metrics


def test_ensemble_fits_a_known_function(fitted):
    model, metrics = fitted
    obs, act, rew, next_obs = sine_data(200)
    mean, logvar = model(obs, act)
    delta, reward = model.to_raw(mean[model.elite_idx].mean(0))
    assert torch.allclose(obs + delta, next_obs, atol=0.05)
    assert torch.allclose(reward, rew, atol=0.05)
    assert metrics["holdout_mse"] < 0.01 and metrics["epochs"] >= 1
    assert logvar.shape == mean.shape == (5, 200, 2)


def test_variance_is_larger_off_data_than_on_data(fitted):
    from mbpo.uncertainty import epistemic_variance

    model, _ = fitted
    on = torch.linspace(-0.9, 0.9, 50).unsqueeze(-1)
    off = torch.linspace(3.0, 5.0, 50).unsqueeze(-1)
    zero = torch.zeros(50, 1)
    var_on = epistemic_variance(model(on, zero)[0]).mean()
    var_off = epistemic_variance(model(off, zero)[0]).mean()
    assert var_off > 10 * var_on


def test_elites_are_the_members_with_lowest_holdout_error(fitted):
    model, _ = fitted
    assert model.elite_idx.shape == (3,)
    assert len(set(model.elite_idx.tolist())) == 3


def test_members_see_different_bootstrap_data():
    torch.manual_seed(0)
    model = GaussianEnsemble(1, 1, ensemble_size=3, num_elites=2, hidden_size=8, num_layers=1)
    trainer = EnsembleTrainer(model, batch_size=1000, weight_decays=[0.0, 0.0], max_epochs=1)
    seen = []
    original = trainer.loss
    trainer.loss = lambda x, y: seen.append(x.clone()) or original(x, y)
    trainer.fit(*sine_data(100))
    batch = seen[0]  # [E, n_train, in]
    assert not torch.equal(batch[0].sort(0).values, batch[1].sort(0).values)


def test_deterministic_variant_has_no_variance_head():
    model = GaussianEnsemble(2, 1, ensemble_size=3, num_elites=2, hidden_size=8, num_layers=1,
                             probabilistic=False)
    mean, logvar = model(torch.randn(4, 2), torch.randn(4, 1))
    assert mean.shape == (3, 4, 3) and logvar is None
    trainer = EnsembleTrainer(model, batch_size=16, weight_decays=[0.0, 0.0], max_epochs=2)
    obs = torch.randn(64, 2)
    assert trainer.fit(obs, torch.randn(64, 1), torch.randn(64), obs + 0.1)["train_loss"] >= 0


@pytest.mark.parametrize("kwargs, field", [
    ({"num_elites": 8}, "num_elites"),
    ({"ensemble_size": 0}, "ensemble_size"),
])
def test_bad_ensemble_settings_name_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        GaussianEnsemble(2, 1, **kwargs)


def test_weight_decay_list_must_match_layers():
    model = GaussianEnsemble(2, 1, hidden_size=8, num_layers=2)
    with pytest.raises(ValueError, match="weight_decays"):
        EnsembleTrainer(model, weight_decays=[1e-4])


def test_optimiser_weight_decay_equals_mbpo_l2_term_in_the_loss():
    """Decay is applied by Adam; one step must equal Adam on loss + sum_l d_l/2 ||W_l||^2."""
    torch.manual_seed(0)
    model = GaussianEnsemble(2, 1, ensemble_size=3, num_elites=2, hidden_size=8, num_layers=2)
    reference = GaussianEnsemble(2, 1, ensemble_size=3, num_elites=2, hidden_size=8, num_layers=2)
    reference.load_state_dict(model.state_dict())
    decays = [3.0, 5.0, 7.0]  # large enough to flip gradient signs: a missing decay shows
    trainer = EnsembleTrainer(model, weight_decays=decays)
    assert trainer.optimizer.param_groups[0]["weight_decay"] == decays[0]
    inputs, targets = torch.randn(3, 16, 3), torch.randn(3, 16, 3)
    reference_trainer = EnsembleTrainer(reference, weight_decays=[0.0] * 3)
    opt = torch.optim.Adam(reference.parameters(), lr=1e-3)
    for _ in range(2):  # the first step creates Adam's state; the second is the direct kernel
        clear_grads(trainer.optimizer)
        trainer.loss(inputs, targets).backward()
        adam_step(trainer.optimizer)
        opt.zero_grad()
        l2 = sum(d / 2 * (layer.weight**2).sum()
                 for d, layer in zip(decays, reference.linear_layers))
        (reference_trainer.loss(inputs, targets) + l2).backward()
        opt.step()
    for (name, p), q in zip(model.named_parameters(), reference.parameters()):
        assert torch.allclose(p, q, atol=1e-6), name


def test_fit_steps_as_torch_optim_would_bit_for_bit(monkeypatch):
    """The trainer's direct fused-Adam step (six groups, each with its own weight decay) must
    give the fit Optimizer.step gives."""
    def fit(step):
        torch.manual_seed(0)
        model = GaussianEnsemble(2, 1, ensemble_size=3, num_elites=2, hidden_size=8,
                                 num_layers=2)
        trainer = EnsembleTrainer(model, weight_decays=[1e-1, 2e-1, 3e-1], max_epochs=2,
                                  batch_size=8)
        monkeypatch.setattr(model_training, "adam_step", step)
        gen = torch.Generator().manual_seed(1)
        trainer.fit(*(torch.randn(40, d, generator=gen) for d in (2, 1)),
                    torch.randn(40, generator=gen), torch.randn(40, 2, generator=gen))
        return model.state_dict(), trainer.optimizer.state_dict()["state"]

    (ours, our_state), (theirs, their_state) = fit(adam_step), fit(lambda opt: opt.step())
    for name in ours:
        assert torch.equal(ours[name], theirs[name]), name
    for i in our_state:
        assert torch.equal(our_state[i]["exp_avg_sq"], their_state[i]["exp_avg_sq"])


def test_fit_does_not_depend_on_how_many_minibatches_are_gathered_at_once(monkeypatch):
    """The gather block only caps memory: every block size gives the same fit, bit for bit."""
    obs, act = torch.randn(700, 3), torch.randn(700, 2)
    results = []
    for block in (1, 3, 1000):  # per minibatch, a few at once, the whole epoch at once
        monkeypatch.setattr(model_training, "GATHER_BLOCK", block)
        torch.manual_seed(0)
        model = GaussianEnsemble(3, 2, ensemble_size=3, num_elites=2, hidden_size=8, num_layers=1)
        EnsembleTrainer(model, batch_size=32, weight_decays=[0.0, 0.0], max_epochs=2).fit(
            obs, act, obs.sum(-1), obs + 0.1 * act.sum(-1, keepdim=True))
        results.append([p.detach().clone() for p in model.parameters()])
    assert all(torch.equal(a, b) for other in results[1:] for a, b in zip(results[0], other))

