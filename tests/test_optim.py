import copy

import pytest
import torch

from mbpo.optim import adam_step, clear_grads, fused_adam, load_adam_state


def make_params():
    torch.manual_seed(0)
    return [torch.nn.Parameter(torch.randn(4, 3)), torch.nn.Parameter(torch.randn(3)),
            torch.nn.Parameter(torch.tensor(0.5)), torch.nn.Parameter(torch.randn(2))]


def groups(params):
    """Two groups with their own betas, eps and weight decay (as model training has); the
    last parameter never gets a gradient."""
    return [{"params": params[:2], "weight_decay": 1e-1},
            {"params": params[2:], "betas": (0.5, 0.9), "eps": 1e-3}]


def set_grads(params, k):
    gen = torch.Generator().manual_seed(k)
    for p in params[:3]:
        p.grad = torch.randn(p.shape, generator=gen)


def test_adam_step_matches_torch_optim_bit_for_bit_including_skipped_steps():
    """The direct kernel call must be the same arithmetic as Adam.step(fused=True): a
    checkpoint taken with either must resume into the other unchanged."""
    ours, theirs = make_params(), make_params()
    opt_ours, opt_theirs = fused_adam(groups(ours), 1e-2), fused_adam(groups(theirs), 1e-2)
    for k, ok in enumerate([False, True, True, False, True, False, True]):  # skip first
        set_grads(ours, k)
        set_grads(theirs, k)
        adam_step(opt_ours, torch.tensor(ok))
        if ok:
            opt_theirs.step()
        for a, b in zip(ours, theirs):
            assert torch.equal(a, b)
    a_state, b_state = opt_ours.state_dict()["state"], opt_theirs.state_dict()["state"]
    assert set(a_state) == set(b_state) == {0, 1, 2}  # no state for the grad-less parameter
    for i in a_state:
        for key in ("step", "exp_avg", "exp_avg_sq"):
            assert torch.equal(a_state[i][key], b_state[i][key]), key
    assert float(a_state[0]["step"]) == 4  # the three skipped steps are not counted


def test_an_unconditional_adam_step_matches_torch_optim_bit_for_bit():
    ours, theirs = make_params(), make_params()
    opt_ours, opt_theirs = fused_adam(groups(ours), 1e-2), fused_adam(groups(theirs), 1e-2)
    for k in range(4):  # the first step creates the state through torch.optim
        set_grads(ours, k)
        set_grads(theirs, k)
        adam_step(opt_ours)
        opt_theirs.step()
        for a, b in zip(ours, theirs):
            assert torch.equal(a, b)
    assert float(opt_ours.state[ours[0]]["step"]) == 4
    assert not hasattr(opt_ours, "found_inf")


def test_a_skipped_first_step_leaves_no_flag_behind():
    params = make_params()
    opt = fused_adam(params, 1e-2)
    set_grads(params, 0)
    adam_step(opt, torch.tensor(False))  # torch.optim creates the state, skipping the step
    before = [p.detach().clone() for p in params]
    opt.step()  # a plain step must still step
    assert not torch.equal(params[0], before[0])


def test_adam_step_follows_a_loaded_state_dict():
    """After load_state_dict the optimiser holds new state tensors: the step must use them."""
    params = make_params()
    opt = fused_adam(params, 1e-2)
    for k in range(2):
        set_grads(params, k)
        adam_step(opt, torch.tensor(True))
    saved_params, saved = [p.detach().clone() for p in params], copy.deepcopy(opt.state_dict())
    for k in range(2, 4):
        set_grads(params, k)
        adam_step(opt, torch.tensor(True))
    moved = [p.detach().clone() for p in params]
    with torch.no_grad():
        for p, s in zip(params, saved_params):
            p.copy_(s)
    load_adam_state(opt, saved)
    for k in range(2, 4):
        set_grads(params, k)
        adam_step(opt, torch.tensor(True))
    for p, m in zip(params, moved):
        assert torch.equal(p, m)


def test_clear_grads_sets_none():
    params = make_params()
    opt = fused_adam(params, 1e-2)
    set_grads(params, 0)
    clear_grads(opt)
    assert all(p.grad is None for p in params)


@pytest.mark.parametrize("option", ["amsgrad", "maximize"])
def test_other_adams_skip_and_step_as_torch_optim_does(option):
    """The skip flag is torch.optim's own, so every Adam option keeps its arithmetic."""
    ours, theirs = make_params(), make_params()
    opt_ours = torch.optim.Adam(ours, lr=1e-2, fused=True, **{option: True})
    opt_theirs = torch.optim.Adam(theirs, lr=1e-2, fused=True, **{option: True})
    for k, ok in enumerate([True, False, True]):
        set_grads(ours, k)
        set_grads(theirs, k)
        adam_step(opt_ours, torch.tensor(ok))
        if ok:
            opt_theirs.step()
        assert all(torch.equal(a, b) for a, b in zip(ours, theirs))
    assert float(opt_ours.state[ours[0]]["step"]) == 2


def adam_without_fused(real_adam):
    """torch.optim.Adam as torch < 2.4 builds it for CPU parameters."""
    def build(params, fused=None, **kw):
        if fused:
            raise RuntimeError("`fused=True` requires all the params to be floating point "
                               "Tensors of supported devices: ['cuda']")
        return real_adam(params, **kw)
    return build


def test_without_a_fused_kernel_it_falls_back_to_foreach_and_still_skips(monkeypatch):
    """torch < 2.4 has no fused Adam on the CPU: construction must not fail there."""
    monkeypatch.setattr(torch.optim, "Adam", adam_without_fused(torch.optim.Adam))
    params = make_params()
    opt = fused_adam(params, 1e-2)
    assert not opt.param_groups[0]["fused"] and opt.param_groups[0]["foreach"]
    before = [p.detach().clone() for p in params]
    set_grads(params, 0)
    adam_step(opt, torch.tensor(False))
    assert all(torch.equal(p, b) for p, b in zip(params, before)) and not opt.state
    adam_step(opt, torch.tensor(True))
    assert not torch.equal(params[0], before[0])


def test_a_checkpoint_keeps_the_loading_optimisers_kernel(monkeypatch):
    """A checkpoint carries the saving machine's fused/foreach flags; the loader keeps its own."""
    params = make_params()
    fused = fused_adam(params, 1e-2)
    with monkeypatch.context() as m:
        m.setattr(torch.optim, "Adam", adam_without_fused(torch.optim.Adam))
        fallback = fused_adam(params, 1e-2)
    set_grads(params, 0)
    adam_step(fallback, torch.tensor(True))
    load_adam_state(fused, copy.deepcopy(fallback.state_dict()))
    assert fused.param_groups[0]["fused"] and not fused.param_groups[0]["foreach"]
    set_grads(params, 1)
    adam_step(fused, torch.tensor(True))  # the direct kernel call, on the loaded state
    assert float(fused.state[params[0]]["step"]) == 2
    load_adam_state(fallback, copy.deepcopy(fused.state_dict()))
    assert not fallback.param_groups[0]["fused"] and fallback.param_groups[0]["foreach"]
    assert fallback.state[params[0]]["step"].device.type == "cpu"
