import copy

import pytest
import torch

from mbpo.optim import clear_grads, fused_adam, step_unless


def make_params():
    torch.manual_seed(0)
    return [torch.nn.Parameter(torch.randn(4, 3)), torch.nn.Parameter(torch.randn(3)),
            torch.nn.Parameter(torch.tensor(0.5))]


def set_grads(params, scale):
    for i, p in enumerate(params):
        p.grad = torch.full_like(p, scale) + torch.arange(p.numel()).reshape(p.shape) * 0.01 * i


def test_step_unless_matches_torch_optim_bit_for_bit_including_skipped_steps():
    """The direct kernel call must be the same arithmetic as Adam.step(fused=True): a
    checkpoint taken with either must resume into the other unchanged."""
    ours, theirs = make_params(), make_params()
    opt_ours, opt_theirs = fused_adam(ours, 1e-2), fused_adam(theirs, 1e-2)
    for k, ok in enumerate([True, True, False, True, False, True]):
        set_grads(ours, 0.3 * (k + 1))
        set_grads(theirs, 0.3 * (k + 1))
        step_unless(opt_ours, torch.tensor(ok))
        if ok:
            opt_theirs.step()
        for a, b in zip(ours, theirs):
            assert torch.equal(a, b)
    a_state, b_state = opt_ours.state_dict()["state"], opt_theirs.state_dict()["state"]
    for i in a_state:
        for key in ("step", "exp_avg", "exp_avg_sq"):
            assert torch.equal(a_state[i][key], b_state[i][key]), key
    assert float(a_state[0]["step"]) == 4  # the two skipped steps are not counted


def test_step_unless_follows_a_loaded_state_dict():
    """After load_state_dict the optimiser holds new state tensors: the step must use them."""
    params = make_params()
    opt = fused_adam(params, 1e-2)
    set_grads(params, 1.0)
    step_unless(opt, torch.tensor(True))
    saved_params, saved = copy.deepcopy([p.detach() for p in params]), opt.state_dict()
    step_unless(opt, torch.tensor(True))
    moved = [p.detach().clone() for p in params]
    with torch.no_grad():
        for p, s in zip(params, saved_params):
            p.copy_(s)
    opt.load_state_dict(saved)
    step_unless(opt, torch.tensor(True))
    for p, m in zip(params, moved):
        assert torch.equal(p, m)


def test_clear_grads_sets_none_and_other_adams_are_refused():
    params = make_params()
    opt = fused_adam(params, 1e-2)
    set_grads(params, 1.0)
    step_unless(opt, torch.tensor(True))  # the first step goes through torch.optim
    clear_grads(opt)
    assert all(p.grad is None for p in params)
    decayed = torch.optim.Adam(params, lr=1e-2, weight_decay=1e-4, fused=True)
    set_grads(params, 1.0)
    decayed.step()
    with pytest.raises(ValueError, match="plain fused Adam"):
        step_unless(decayed, torch.tensor(True))


def test_without_a_fused_kernel_it_falls_back_to_foreach_and_still_skips(monkeypatch):
    """torch < 2.4 has no fused Adam on the CPU: construction must not fail there."""
    real_adam = torch.optim.Adam

    def adam_without_fused(params, fused=None, **kw):
        if fused:
            raise RuntimeError("`fused=True` requires all the params to be floating point "
                               "Tensors of supported devices: ['cuda']")
        return real_adam(params, **kw)

    monkeypatch.setattr(torch.optim, "Adam", adam_without_fused)
    params = make_params()
    opt = fused_adam(params, 1e-2)
    assert not opt.param_groups[0]["fused"] and opt.param_groups[0]["foreach"]
    before = [p.detach().clone() for p in params]
    set_grads(params, 1.0)
    step_unless(opt, torch.tensor(False))
    assert all(torch.equal(p, b) for p, b in zip(params, before)) and not opt.state
    step_unless(opt, torch.tensor(True))
    assert not any(torch.equal(p, b) for p, b in zip(params, before))
