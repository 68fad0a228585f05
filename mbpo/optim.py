"""Fused Adam steps without torch.optim's Python, for SAC and model training.

SAC makes two optimiser steps per update, hundreds of thousands per run, and model
training one per minibatch. `Optimizer.step` spends about 0.1 ms of Python per call on a
CPU (profiler record, hooks, lazy-state checks, regrouping the tensors by device) around
a fused kernel that itself takes about as long. `adam_step` calls the same kernel,
`torch._fused_adam_`, directly on the optimiser's own state, so checkpoints (`state_dict`)
and the result are unchanged, bit for bit. A step is skipped without a host sync by the
kernel's `found_inf` flag, the one torch.amp.GradScaler uses to skip steps with inf
gradients (with one host sync instead on the foreach fallback, for torch < 2.4 on a CPU).
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
    steps. Same arithmetic as `optimizer.step()` with fused=True, (coupled) weight decay
    per group included; one dtype per group. Step hooks do not run (none are used here)."""
    refuse_unsupported(optimizer)
    if not all(g["fused"] for g in optimizer.param_groups):  # torch < 2.4 on the CPU
        if ok is None or bool(ok):  # a host sync, only on this fallback
            optimizer.step()
        return
    applied = None if ok is None else ok.float()
    skip = None if applied is None else 1 - applied
    with_grad = [[p for p in g["params"] if p.grad is not None] for g in optimizer.param_groups]
    if not all("step" in optimizer.state.get(p, {}) for ps in with_grad for p in ps):
        first_step(optimizer, skip)
        return
    for group, params in zip(optimizer.param_groups, with_grad):
        if not params:
            continue
        state = [optimizer.state[p] for p in params]
        steps = [s["step"] for s in state]
        # torch.optim adds 1 to every step count and subtracts found_inf after the kernel;
        # adding `ok` first is the same (a skipped kernel ignores the count). A list: the
        # scalar-tensor overload would read the value on the host.
        torch._foreach_add_(steps, 1 if applied is None else [applied] * len(steps))
        beta1, beta2 = group["betas"]
        torch._fused_adam_(params, [p.grad for p in params], [s["exp_avg"] for s in state],
                           [s["exp_avg_sq"] for s in state], [], steps, lr=group["lr"],
                           beta1=beta1, beta2=beta2, weight_decay=group["weight_decay"],
                           eps=group["eps"], amsgrad=False, maximize=False, grad_scale=None,
                           found_inf=skip)


def refuse_unsupported(optimizer: torch.optim.Adam) -> None:
    """Before any step: the direct kernel call implements none of these options."""
    for group in optimizer.param_groups:
        if group["amsgrad"] or group["maximize"] or group.get("decoupled_weight_decay"):
            raise ValueError("adam_step steps only Adam without amsgrad, maximize or "
                             "decoupled weight decay (see fused_adam)")


def first_step(optimizer: torch.optim.Adam, skip: Tensor | None) -> None:
    """Through torch.optim, which creates the state; skipped by its `found_inf` flag."""
    optimizer.found_inf = skip
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
