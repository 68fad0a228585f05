"""Numeric precision as configuration: bf16 autocast for the matmuls, fp32 everywhere else.

Under bf16 only matmul-class ops run in bfloat16 (torch.autocast); master weights,
optimiser state, TD targets, losses and uncertainty reductions stay fp32 because every
network casts its output back to fp32. `auto` uses bf16 only where the hardware runs it
natively and only for the components a learning check cleared (AUTO_BF16); `bf16` runs
the components named in `bf16_components` (all three by default) in bf16.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

import torch

COMPONENTS = ("sac", "model_train", "rollout")
AUTO_BF16: tuple[str, ...] = COMPONENTS
"""Components cleared for bf16 under `precision=auto` by a learning check against fp32: all
three, by the Hopper check (docs/results/precision-check-hopper: adaptive, 15k steps, 3
seeds per group, bf16 everywhere against fp32 everywhere, passed the rule written down
before it finished: bf16's mean return at 15k and over 6k-15k at least 0.9x fp32's), with
InvertedPendulum at 5k level (docs/results/precision-check-5k). The groups ran all three
components in one precision, so the check clears them together."""


def native_bf16(device: torch.device) -> bool:
    """True where bf16 matmuls run natively: a CUDA GPU from Ampere on (compute capability
    8.0; `torch.cuda.is_bf16_supported()` also says yes where bf16 is only emulated, as on a
    V100 or T4, and slower than fp32), or a CPU with AVX512-BF16 / AMX."""
    if device.type == "cuda":
        if torch.version.hip:  # ROCm reports its gfx version here, not a CUDA capability
            return torch.cuda.is_bf16_supported()
        return torch.cuda.get_device_capability(device)[0] >= 8
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


def resolve_precision(setting: str, device: torch.device,
                      components: Sequence[str] = COMPONENTS) -> PrecisionPlan:
    """Which components run bf16: `components` under bf16; under auto, those of them that
    AUTO_BF16 clears, where bf16 is native."""
    if setting not in ("fp32", "bf16", "auto"):
        raise ValueError(f"precision must be one of fp32, bf16, auto; got {setting!r}")
    unknown = [c for c in components if c not in COMPONENTS]
    if unknown:
        raise ValueError(f"bf16_components must name only {', '.join(COMPONENTS)}; "
                         f"got {unknown}")
    if setting == "auto":
        components = [c for c in components if c in AUTO_BF16] if native_bf16(device) else []
    return PrecisionPlan(**{c: setting != "fp32" and c in components for c in COMPONENTS})


def autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager:
    """bf16 autocast on `device` when enabled, else a no-op context."""
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def autocast_on_cpu() -> bool:
    """Whether CPU autocast is active here (code that bypasses it must know)."""
    try:
        return torch.is_autocast_enabled("cpu")
    except TypeError:  # torch < 2.4
        return torch.is_autocast_cpu_enabled()
