"""A trained policy, one call away: `load_policy(run_dir)(obs) -> action`, and a plain file.

`load_policy` reads only the run's checkpoint (verified, loaded without running code): the
actor's sizes and action bounds are in its weights, so neither Hydra nor the config is
needed. `export_policy` writes `policy.pt`, a dict of plain tensors that any PyTorch loads
with `torch.load(path, weights_only=True)` and runs without this package:

    p = torch.load("policy.pt", weights_only=True)
    x = torch.as_tensor(obs, dtype=torch.float32)
    for i, (w, b) in enumerate(zip(p["weights"], p["biases"])):
        x = x @ w.T + b
        if i < len(p["weights"]) - 1:
            x = torch.relu(x)
    mean = x[..., : p["act_dim"]]
    action = torch.tanh(mean) * p["scale"] + p["offset"]   # the deterministic action
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from mbpo.checkpoint import CHECKPOINT_NAME, load_checked
from mbpo.sac import Actor

EXPORT_FORMAT = "mbpo-policy 1"


def actor_from_state(modules: dict[str, torch.Tensor]) -> Actor:
    """The actor of a SAC state dict, with sizes and bounds read off its tensors."""
    state = {k.removeprefix("actor."): v for k, v in modules.items() if k.startswith("actor.")}
    weights = sorted((k for k in state if k.startswith("net.") and k.endswith(".weight")),
                     key=lambda k: int(k.split(".")[1]))
    obs_dim = state[weights[0]].shape[1]
    hidden = state[weights[0]].shape[0]
    act_dim = state[weights[-1]].shape[0] // 2
    scale, offset = state["scale"].numpy(), state["offset"].numpy()
    actor = Actor(obs_dim, act_dim, hidden, len(weights) - 1, offset - scale, offset + scale)
    actor.load_state_dict(state)
    return actor.eval()


class Policy:
    """obs [obs_dim] or [B, obs_dim] (numpy) -> action [act_dim] or [B, act_dim] (numpy),
    in the env's units; deterministic (the mean action, as evaluation uses) by default."""

    def __init__(self, actor: Actor, deterministic: bool = True, step: int | None = None):
        self.actor, self.deterministic, self.step = actor, deterministic, step
        self.obs_dim = actor.net[0].in_features

    @torch.no_grad()
    def __call__(self, obs: np.ndarray) -> np.ndarray:
        x = torch.as_tensor(np.asarray(obs), dtype=torch.float32)
        single = x.dim() == 1
        if x.shape[-1] != self.obs_dim:
            raise ValueError(f"observation of size {x.shape[-1]}, the policy takes {self.obs_dim}")
        x = x.unsqueeze(0) if single else x
        action = self.actor.deterministic(x) if self.deterministic else self.actor.sample(x)[0]
        action = action.numpy()
        return action[0] if single else action


def load_policy(run_dir: str | Path, deterministic: bool = True) -> Policy:
    """The policy of a run (its latest checkpoint); raises CheckpointError if unusable."""
    path = Path(run_dir)
    path = path / CHECKPOINT_NAME if path.is_dir() else path
    state = load_checked(path, None)
    return Policy(actor_from_state(state["agent"]["modules"]), deterministic, state["loop"]["t"])


def export_policy(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write the policy as plain tensors (see the module docstring); returns the path."""
    policy = load_policy(run_dir)
    linear = [m for m in policy.actor.net if isinstance(m, torch.nn.Linear)]
    out = Path(out) if out else Path(run_dir) / "policy.pt"
    torch.save({"format": EXPORT_FORMAT, "obs_dim": policy.obs_dim,
                "act_dim": linear[-1].out_features // 2,
                "weights": [m.weight.detach().clone() for m in linear],
                "biases": [m.bias.detach().clone() for m in linear],
                "scale": policy.actor.scale.clone(), "offset": policy.actor.offset.clone(),
                "step": policy.step}, out)
    return out
