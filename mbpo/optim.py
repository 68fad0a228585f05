"""Fused Adam steps that skip on a device flag, for SAC and model training.

A step whose loss went non-finite is skipped without a host sync: torch.optim's fused Adam
reads the optimiser's `found_inf` flag on the device, as torch.amp.GradScaler uses it to
skip steps with inf gradients (one host sync instead on the foreach fallback, for
torch < 2.4 on a CPU). Only the public optimiser is used: calling the fused kernel
directly saved 1-6% of a SAC update, about 3.5% of a Hopper run's time, under the 5% a
private torch API has to buy here (docs/performance.md, "Adam").
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor


def fused_adam(params: Iterable[Tensor] | Iterable[dict], lr: float) -> torch.optim.Adam:
    """A fused Adam; the foreach one where this torch has no fused kernel for the params'
    device (the CPU before torch 2.4). Weight decay only per group (model training)."""
    params = list(params)
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except RuntimeError:  # "`fused=True` requires ... Tensors of supported devices"
        return torch.optim.Adam(params, lr=lr, foreach=True)


def clear_grads(optimizer: torch.optim.Optimizer) -> None:
    """`zero_grad(set_to_none=True)` without its profiler record: backward then writes
    fresh gradients instead of adding into old ones."""
    for group in optimizer.param_groups:
        for p in group["params"]:
            p.grad = None


def adam_step(optimizer: torch.optim.Adam, ok: Tensor | None = None) -> None:
    """Step `optimizer` unless `ok` (a bool tensor on the parameters' device) is False; a
    skipped step leaves parameters, moments and step counts as they were. `ok=None` always
    steps. The skip is torch.amp.GradScaler's: the optimiser's `found_inf` flag, which the
    fused kernel reads on the device, so deciding never waits for the host."""
    if ok is None:
        optimizer.step()
        return
    if not all(g["fused"] for g in optimizer.param_groups):  # torch < 2.4 on the CPU
        if bool(ok):  # a host sync, only on this fallback
            optimizer.step()
        return
    optimizer.found_inf = 1 - ok.float()
    try:
        optimizer.step()
    finally:  # a flag left set would make every later plain step() a no-op
        del optimizer.found_inf


def load_adam_state(optimizer: torch.optim.Adam, state: dict) -> None:
    """`load_state_dict` that keeps the kernel this optimiser was built with: the loaded
    groups carry the saving machine's fused/foreach flags (a checkpoint from torch < 2.4 on
    a CPU would otherwise stay on the slow fallback), and the step counts move to where
    that kernel wants them (fused: the parameters' device; foreach: the host)."""
    kernels = [(g["fused"], g["foreach"]) for g in optimizer.param_groups]
    optimizer.load_state_dict(state)
    for group, (fused, foreach) in zip(optimizer.param_groups, kernels):
        group["fused"], group["foreach"] = fused, foreach
        for p in group["params"]:
            if "step" in optimizer.state.get(p, {}):
                step = optimizer.state[p]["step"]
                optimizer.state[p]["step"] = step.to(p.device if fused else "cpu", torch.float32)
