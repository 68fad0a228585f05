"""Soft actor-critic (Haarnoja et al. 2018) as MBPO uses it.

Tanh-squashed Gaussian policy with the exact log-prob correction, twin Q fused into one
two-member ensemble network, Polyak-averaged targets, automatic entropy tuning.
By default (`update_order=critic_first`) an update steps the critic first, then the actor
and the temperature together on the updated critic (one backward and one fused Adam for the
pair: the actor reads the critic through detached weights). `simultaneous` computes all three
losses from the same parameters and takes one backward, as MBPO's TF code does (its critic,
policy and temperature ops run in one `session.run`): one backward instead of two, the
same two Adam steps.
`update` makes no host sync: it returns detached metric tensors (only the loop turns them
into numbers), and a step with a non-finite loss is skipped on the device, by fused Adam's
`found_inf` flag.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mbpo.buffer import Batch
from mbpo.checks import finite, positive
from mbpo.ensemble import EnsembleLinear
from mbpo.optim import adam_step, clear_grads, fused_adam, load_adam_state
from mbpo.precision import autocast

LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0
UPDATE_ORDERS = ("critic_first", "simultaneous")


def mlp(in_dim: int, out_dim: int, hidden_size: int, num_layers: int) -> nn.Sequential:
    sizes = [in_dim] + [hidden_size] * num_layers
    layers: list[nn.Module] = []
    for i, o in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(i, o), nn.ReLU(inplace=True)]  # in place: saves a buffer
    return nn.Sequential(*layers, nn.Linear(sizes[-1], out_dim))


class Actor(nn.Module):
    def __init__(self, obs_dim: int, act_dim: int, hidden_size: int, num_layers: int,
                 action_low: np.ndarray, action_high: np.ndarray):
        super().__init__()
        self.net = mlp(obs_dim, 2 * act_dim, hidden_size, num_layers)
        low = torch.as_tensor(action_low, dtype=torch.float32)
        high = torch.as_tensor(action_high, dtype=torch.float32)
        self.register_buffer("scale", (high - low) / 2)
        self.register_buffer("offset", (high + low) / 2)
        # Constant part of log pi: the Gaussian's normaliser and the affine map to env units.
        self.log_norm = float(0.5 * act_dim * math.log(2 * math.pi) + self.scale.log().sum())

    def forward(self, obs: Tensor) -> tuple[Tensor, Tensor]:
        mean, log_std = self.net(obs).float().chunk(2, dim=-1)  # fp32 even under autocast
        # Smoothly squash log_std into [LOG_STD_MIN, LOG_STD_MAX] (as in cleanrl's SAC).
        log_std = LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (torch.tanh(log_std) + 1)
        return mean, log_std

    def sample(self, obs: Tensor) -> tuple[Tensor, Tensor]:
        """Reparameterised action in env units and its log-density [B]."""
        return self.sample_from(*self(obs))

    def sample_from(self, mean: Tensor, log_std: Tensor) -> tuple[Tensor, Tensor]:
        """`sample` given the network's outputs (rollouts run the network on padded rows)."""
        eps = torch.randn_like(mean)
        u = mean + log_std.exp() * eps
        # Per dimension: the Gaussian's log-density, -eps^2/2 - log_std (as (u - mean) / std
        # is eps exactly), minus log(1 - tanh(u)^2) computed stably as
        # 2 * (log 2 - u - softplus(-2u)) (SAC, Haarnoja et al. 2018, appendix C).
        per_dim = -0.5 * eps.square() - log_std - 2 * (math.log(2) - u - F.softplus(-2 * u))
        logp = per_dim.sum(-1) - self.log_norm
        return torch.tanh(u) * self.scale + self.offset, logp

    def deterministic(self, obs: Tensor) -> Tensor:
        mean, _ = self(obs)
        return torch.tanh(mean) * self.scale + self.offset


class TwinCritic(nn.Module):
    """Both Q networks as one 2-member ensemble: one batched matmul per layer."""

    def __init__(self, obs_dim: int, act_dim: int, hidden_size: int, num_layers: int):
        super().__init__()
        sizes = [obs_dim + act_dim] + [hidden_size] * num_layers + [1]
        self.layers = nn.ModuleList(EnsembleLinear(2, i, o) for i, o in zip(sizes[:-1], sizes[1:]))
        for layer in self.layers:  # PyTorch's nn.Linear initialisation, as usual for SAC
            bound = 1.0 / math.sqrt(layer.weight.shape[1])
            nn.init.uniform_(layer.weight, -bound, bound)
            nn.init.uniform_(layer.bias, -bound, bound)

    def forward(self, obs: Tensor, act: Tensor, frozen: bool = False) -> Tensor:
        """Q [2, B] in fp32. `frozen` reads detached weights: gradients reach the inputs
        (the actor's actions) but never the critic."""
        x = torch.cat([obs, act], dim=-1)
        for layer in self.layers[:-1]:
            x = layer(x, frozen).relu_()  # in place: baddbmm's backward needs no output
        return self.layers[-1](x, frozen).float().squeeze(-1)  # [2, B], fp32 under autocast


class SAC(nn.Module):
    def __init__(self, obs_dim: int, act_dim: int, action_low: np.ndarray,
                 action_high: np.ndarray, hidden_size: int = 256, num_layers: int = 2,
                 lr: float = 3e-4, gamma: float = 0.99, tau: float = 0.005,
                 batch_size: int = 256, init_alpha: float = 1.0,
                 target_entropy: float | None = None, compile_losses: bool = False,
                 update_order: str = "critic_first", bf16: bool = False,
                 device: torch.device | str = "cpu"):
        super().__init__()
        positive("agent.lr", lr)
        if target_entropy is not None:
            finite("agent.target_entropy", target_entropy)
        if not 0.0 <= finite("agent.gamma", gamma) < 1.0:
            raise ValueError(f"agent.gamma must be in [0, 1), got {gamma}")
        if not 0.0 < finite("agent.tau", tau) <= 1.0:
            raise ValueError(f"agent.tau must be in (0, 1], got {tau}")
        if batch_size < 1:
            raise ValueError(f"agent.batch_size must be >= 1, got {batch_size}")
        positive("agent.init_alpha", init_alpha)
        if update_order not in UPDATE_ORDERS:
            raise ValueError(f"agent.update_order must be one of {', '.join(UPDATE_ORDERS)}, "
                             f"got {update_order!r}")
        self.gamma, self.tau, self.batch_size, self.bf16 = gamma, tau, batch_size, bf16
        self.update_order = update_order
        self.target_entropy = float(-act_dim if target_entropy is None else target_entropy)
        self.actor = Actor(obs_dim, act_dim, hidden_size, num_layers, action_low, action_high)
        self.critic = TwinCritic(obs_dim, act_dim, hidden_size, num_layers)
        self.critic_target = TwinCritic(obs_dim, act_dim, hidden_size, num_layers)
        self.critic_target.load_state_dict(self.critic.state_dict())
        self.critic_target.requires_grad_(False)
        self.log_alpha = nn.Parameter(torch.tensor(math.log(init_alpha)))
        # Updates dropped because a loss was not finite: a device counter, read when logged,
        # kept in checkpoints so a resumed run goes on counting.
        self.register_buffer("skipped", torch.zeros((), dtype=torch.long))
        # On the device before the optimisers exist: torch < 2.4 builds a fused Adam only
        # for CUDA parameters, and would fall back to foreach (a host sync per step) for
        # parameters moved there afterwards.
        self.to(device)
        self.critic_opt = fused_adam(self.critic.parameters(), lr)
        # Actor and temperature share MBPO's lr and one step: one fused Adam for both.
        self.actor_opt = fused_adam([*self.actor.parameters(), self.log_alpha], lr)
        if compile_losses:
            self.compile()

    @property
    def skipped_updates(self) -> int:
        return int(self.skipped)

    def full_state(self) -> dict[str, object]:
        """Networks, alpha, the skip counter and both optimisers: what a checkpoint needs."""
        return {"modules": self.state_dict(), "critic_opt": self.critic_opt.state_dict(),
                "actor_opt": self.actor_opt.state_dict()}

    def load_full_state(self, state: dict[str, object]) -> None:
        # Checkpoints from before the skip counter was saved resume counting from 0.
        modules = {"skipped": torch.zeros_like(self.skipped), **state["modules"]}
        self.load_state_dict(modules)
        load_adam_state(self.critic_opt, state["critic_opt"])
        load_adam_state(self.actor_opt, state["actor_opt"])

    @torch.no_grad()
    def act(self, obs: np.ndarray, deterministic: bool = False) -> np.ndarray:
        """One env action from a host observation."""
        x = torch.as_tensor(obs, dtype=torch.float32, device=self.log_alpha.device).unsqueeze(0)
        a = self.actor.deterministic(x) if deterministic else self.actor.sample(x)[0]
        return a.squeeze(0).cpu().numpy()

    def critic_loss(self, batch: Batch, alpha: Tensor) -> tuple[Tensor, Tensor]:
        """Twin-Q TD loss against the target critics; also returns Q [2, B] for logging."""
        with autocast(self.log_alpha.device, self.bf16):
            with torch.no_grad():
                next_act, next_logp = self.actor.sample(batch.next_obs)
                next_q = self.critic_target(batch.next_obs, next_act).min(dim=0).values
                target = batch.rew + self.gamma * (1.0 - batch.terminated) * (
                    next_q - alpha * next_logp)
            q = self.critic(batch.obs, batch.act)  # [2, B]
        return ((q - target) ** 2).mean(dim=1).sum(), q

    def actor_loss(self, obs: Tensor, alpha: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Policy and temperature losses, and log pi [B]. The critic is read through
        detached weights and log pi detached in the temperature loss, so the sum of the two
        losses gives the actor and log alpha exactly their own gradients and the critic none."""
        with autocast(self.log_alpha.device, self.bf16):
            act, logp = self.actor.sample(obs)
            q_pi = self.critic(obs, act, frozen=True).min(dim=0).values
        actor_loss = (alpha * logp - q_pi).mean()
        alpha_loss = -(self.log_alpha * (logp.detach() + self.target_entropy)).mean()
        return actor_loss, alpha_loss, logp

    def compile(self) -> None:
        """torch.compile both losses (fuses the elementwise work around the matmuls)."""
        self.critic_loss = torch.compile(self.critic_loss)
        self.actor_loss = torch.compile(self.actor_loss)

    def update(self, batch: Batch) -> dict[str, Tensor]:
        """One SAC step, decided on the device with no host sync. A non-finite critic loss
        skips the whole step (networks, optimiser states, targets); a non-finite actor or
        temperature loss skips the actor, alpha and the targets while the critic still
        steps. Either way `applied` is 0 in the metrics, whose other values are then 0."""
        alpha = self.log_alpha.exp().detach()
        simultaneous = self.update_order == "simultaneous"
        # Separate autocast regions per loss: autocast caches bf16 weight copies until it
        # exits; the critic's weights change between the two losses in critic_first, and
        # in one region older torch would reuse the actor's copies cast under no_grad for
        # the next actions, leaving the actor without gradient (pytorch/pytorch#112583).
        critic_loss, q = self.critic_loss(batch, alpha)
        critic_ok = torch.isfinite(critic_loss)
        clear_grads(self.critic_opt)
        if not simultaneous:  # the actor then reads the updated critic
            critic_loss.backward()
            adam_step(self.critic_opt, critic_ok)

        actor_loss, alpha_loss, logp = self.actor_loss(batch.obs, alpha)
        ok = critic_ok & torch.isfinite(actor_loss + alpha_loss)
        clear_grads(self.actor_opt)
        if simultaneous:
            # Each parameter gets exactly its own loss's gradient (see actor_loss), so a
            # non-finite actor loss leaves the critic's finite and its step goes ahead, as
            # in the other order.
            (critic_loss + actor_loss + alpha_loss).backward()
            adam_step(self.critic_opt, critic_ok)
        else:
            (actor_loss + alpha_loss).backward()
        adam_step(self.actor_opt, ok)
        return self.finish_update(ok, critic_loss, actor_loss, alpha, logp, q)

    @torch.no_grad()
    def finish_update(self, ok: Tensor, critic_loss: Tensor, actor_loss: Tensor,
                      alpha: Tensor, logp: Tensor, q: Tensor) -> dict[str, Tensor]:
        """Polyak step of the targets (none for a skipped update) and the metrics."""
        weight = self.tau * ok  # 0 for a skipped step: the targets stay where they are
        for target, source in zip(self.critic_target.parameters(), self.critic.parameters()):
            target.lerp_(source, weight)
        self.skipped += ~ok
        metrics = {"critic_loss": critic_loss, "actor_loss": actor_loss, "alpha": alpha,
                   "entropy": -logp.mean(), "q_mean": q.mean(), "q_abs_max": q.abs().max()}
        values = torch.where(ok, torch.stack(list(metrics.values())).detach(), 0.0)
        return {"applied": ok.float(), **dict(zip(metrics, values.unbind()))}
