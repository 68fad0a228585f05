import copy

import numpy as np
import torch

from mbpo.buffer import Batch
from mbpo.sac import SAC


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
    assert set(metrics) == {"critic_loss", "actor_loss", "alpha", "entropy", "q_mean", "q_abs_max"}
    assert all(torch.isfinite(v) for v in metrics.values())


def test_summed_losses_give_each_parameter_exactly_its_own_gradient():
    """One backward of critic + actor + temperature loss must equal three separate ones:
    the actor loss must not move the critic, the critic loss must not move the actor."""
    agent = make_agent()
    losses = agent.losses(random_batch())
    groups = {"critic": list(agent.critic.parameters()), "actor": list(agent.actor.parameters()),
              "alpha": [agent.log_alpha]}
    own = {name: torch.autograd.grad(getattr(losses, name), params, retain_graph=True,
                                     allow_unused=True)
           for name, params in groups.items()}
    (losses.critic + losses.actor + losses.alpha).backward()
    for name, params in groups.items():
        for p, g in zip(params, own[name]):
            assert g is not None and torch.allclose(p.grad, g, atol=1e-6), name


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
