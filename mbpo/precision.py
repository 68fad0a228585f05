"""Numeric precision as configuration: bf16 autocast for the matmuls, fp32 everywhere else.

Under bf16 only matmul-class ops run in bfloat16 (torch.autocast); master weights,
optimiser state, TD targets, losses and uncertainty reductions stay fp32 because every
network casts its output back to fp32. `auto` uses bf16 only where the hardware runs it
natively and only for the components whose learning check showed no loss.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

COMPONENTS = ("sac", "model_train", "rollout")
AUTO_BF16 = ("sac", "model_train", "rollout")
"""Components that `precision=auto` runs in bf16 on native hardware (see README, Performance)."""


def native_bf16(device: torch.device) -> bool:
    """True where bf16 matmuls run natively: CUDA with bf16, or a CPU with AVX512-BF16 / AMX."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    return False


@dataclass(frozen=True)
class PrecisionPlan:
    sac: bool = False
    model_train: bool = False
    rollout: bool = False

    def describe(self) -> str:
        return ", ".join(f"{c}={'bf16' if getattr(self, c) else 'fp32'}" for c in COMPONENTS)


def resolve_precision(setting: str, device: torch.device) -> PrecisionPlan:
    if setting == "fp32":
        return PrecisionPlan()
    if setting == "bf16":
        return PrecisionPlan(sac=True, model_train=True, rollout=True)
    if setting == "auto":
        native = native_bf16(device)
        return PrecisionPlan(**{c: native and c in AUTO_BF16 for c in COMPONENTS})
    raise ValueError(f"precision must be one of fp32, bf16, auto; got {setting!r}")


def autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager:
    """bf16 autocast on `device` when enabled, else a no-op context."""
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
