import copy

import numpy as np
import pytest
import torch

from mbpo.buffer import Batch
from mbpo.optim import adam_step
from mbpo.sac import SAC, UPDATE_ORDERS


def make_agent(**kw):
    return SAC(obs_dim=3, act_dim=2, action_low=np.array([-1.0, -2.0]),
               action_high=np.array([1.0, 2.0]), hidden_size=16, **kw)


def random_batch(n=32):
    return Batch(torch.randn(n, 3), torch.rand(n, 2) * 2 - 1, torch.randn(n), torch.randn(n, 3),
                 (torch.rand(n) < 0.1).float())


def test_update_changes_actor_critic_alpha_and_moves_targets_by_tau():
    agent = make_agent(tau=0.005)
    before = copy.deepcopy(agent.state_dict())
    metrics = agent.update(random_batch())
    after = agent.state_dict()
    changed = lambda prefix: any(  # noqa: E731
        not torch.equal(before[k], after[k]) for k in before if k.startswith(prefix))
    assert changed("actor.net") and changed("critic.layers") and changed("log_alpha")
    assert changed("critic_target")
    # target = (1 - tau) * old_target + tau * new_critic, exactly
    for k in before:
        if k.startswith("critic_target."):
            src = after[k.replace("critic_target.", "critic.")]
            expected = before[k] + 0.005 * (src - before[k])
            assert torch.allclose(after[k], expected, atol=1e-7)
    assert set(metrics) == {"applied", "critic_loss", "actor_loss", "alpha", "entropy", "q_mean",
                            "q_abs_max"}
    assert metrics["applied"] == 1
    assert all(torch.isfinite(v) for v in metrics.values())


def test_actor_step_gives_actor_and_alpha_their_own_gradients_and_the_critic_none():
    agent = make_agent()
    agent.update(random_batch())  # the critic's grads are those of the critic loss alone
    assert all(p.grad is not None for p in agent.critic.parameters())
    critic_grads = [p.grad.clone() for p in agent.critic.parameters()]
    obs, alpha = torch.randn(16, 3), agent.log_alpha.exp().detach()
    actor_loss, alpha_loss, _ = agent.actor_loss(obs, alpha)
    actor_params = list(agent.actor.parameters())
    own_actor = torch.autograd.grad(actor_loss, actor_params, retain_graph=True)
    own_alpha = torch.autograd.grad(alpha_loss, agent.log_alpha, retain_graph=True)[0]
    agent.actor_opt.zero_grad(set_to_none=True)
    (actor_loss + alpha_loss).backward()
    assert all(torch.allclose(p.grad, g, atol=1e-6) for p, g in zip(actor_params, own_actor))
    assert torch.allclose(agent.log_alpha.grad, own_alpha)
    assert all(torch.equal(p.grad, g) for p, g in zip(agent.critic.parameters(), critic_grads))


def test_log_prob_matches_torch_distributions_with_scaling():
    agent = make_agent()
    obs = torch.randn(64, 3)
    torch.manual_seed(1)
    action, logp = agent.actor.sample(obs)
    mean, log_std = agent.actor(obs)
    dist = torch.distributions.TransformedDistribution(
        torch.distributions.Normal(mean, log_std.exp()),
        [torch.distributions.TanhTransform(),
         torch.distributions.AffineTransform(agent.actor.offset, agent.actor.scale)])
    reference = dist.log_prob(action.clamp(-1.999999, 1.999999)).sum(-1)
    ok = (action.abs() < torch.tensor([0.999, 1.998])).all(-1)  # away from tanh saturation
    assert torch.allclose(logp[ok], reference[ok], atol=1e-3)
    assert (action[:, 0].abs() <= 1).all() and (action[:, 1].abs() <= 2).all()


def test_alpha_rises_when_entropy_is_below_target():
    agent = make_agent(target_entropy=100.0)  # unreachable: alpha must grow
    start = agent.log_alpha.item()
    for _ in range(5):
        agent.update(random_batch())
    assert agent.log_alpha.item() > start


def test_terminated_transitions_do_not_bootstrap():
    agent = make_agent(gamma=0.99)
    batch = random_batch(8)
    batch = batch._replace(terminated=torch.ones(8), rew=torch.full((8,), 3.0))
    with torch.no_grad():
        q = agent.critic(batch.obs, batch.act)
    expected_loss = ((q - 3.0) ** 2).mean(dim=1).sum()
    assert torch.allclose(agent.update(batch)["critic_loss"], expected_loss, atol=1e-5)


@pytest.mark.parametrize("bf16", [False, True], ids=["fp32", "bf16"])
def test_simultaneous_order_steps_the_critic_as_before_and_the_actor_on_the_old_critic(bf16):
    """In bf16 too: one autocast region over both losses would, on older torch, hand the
    actor loss weight copies cast without gradient (pytorch/pytorch#112583)."""
    torch.manual_seed(0)
    base = make_agent(bf16=bf16)
    base.update(random_batch())  # optimiser state exists from here on
    batch = random_batch()
    first, simultaneous, reference = (copy.deepcopy(base) for _ in range(3))
    simultaneous.update_order = "simultaneous"
    for agent in (first, simultaneous):
        torch.manual_seed(1)  # the same policy noise in every update
        agent.update(batch)
    # The critic's step does not depend on the order: the same, bit for bit.
    assert all(torch.equal(a, b) for a, b in zip(first.critic.parameters(),
                                                 simultaneous.critic.parameters()))
    # The actor and temperature step against the critic from before the update.
    torch.manual_seed(1)
    alpha = reference.log_alpha.exp().detach()
    reference.critic_loss(batch, alpha)  # draws the next actions' noise first, as update does
    actor_loss, alpha_loss, _ = reference.actor_loss(batch.obs, alpha)
    (actor_loss + alpha_loss).backward()
    adam_step(reference.actor_opt)
    actor = lambda agent: [*agent.actor.parameters(), agent.log_alpha]  # noqa: E731
    assert not any(torch.equal(a, b) for a, b in zip(actor(simultaneous), actor(base)))
    assert all(torch.allclose(a, b, atol=1e-7, rtol=0)
               for a, b in zip(actor(simultaneous), actor(reference)))
    # ... which is not what the critic-first order gives (else this test proves nothing).
    assert not all(torch.allclose(a, b, atol=1e-7, rtol=0)
                   for a, b in zip(actor(first), actor(reference)))
    # The targets move towards the updated critic in both orders.
    assert all(torch.equal(a, b) for a, b in zip(first.critic_target.parameters(),
                                                 simultaneous.critic_target.parameters()))


def test_unknown_update_order_is_refused_naming_the_field():
    with pytest.raises(ValueError, match="agent.update_order must be one of critic_first, "
                                         "simultaneous, got 'both'"):
        make_agent(update_order="both")


@pytest.mark.parametrize("update_order", UPDATE_ORDERS)
def test_update_makes_no_host_sync(update_order):
    """DESIGN.md section 7: no host sync inside the G-updates loop (a GPU would stall)."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class SyncCounter(TorchDispatchMode):
        syncs = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if func in (torch.ops.aten._local_scalar_dense.default, torch.ops.aten.item.default):
                SyncCounter.syncs += 1
            return func(*args, **(kwargs or {}))

    agent = make_agent(update_order=update_order)
    agent.update(random_batch())
    with SyncCounter():
        agent.update(random_batch())
    assert SyncCounter.syncs == 0
