"""The matmul floor of a hot path: its own matmuls, replayed alone.

A benchmark row's fraction of `torch.mm` mixes two things: how fast matmuls of the row's
shapes can run on this machine at all (a [256, 256] x [256, 256] product does not reach a
2048^3 one), and how much time the code spends around them (elementwise work, autograd,
the optimiser, Python). Replaying the exact matmul calls of one call of `fn` (same ops,
shapes, strides and dtypes, in the same order, on fresh operands) with nothing in between
separates the two: `matmul_floor_seconds(fn) / seconds(fn)` is the share of the time the
matmuls need; the rest is overhead that code changes could remove.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch.utils._python_dispatch import TorchDispatchMode

aten = torch.ops.aten
MATMULS = {getattr(op, overload) for op in (aten.mm, aten.addmm, aten.bmm, aten.baddbmm)
           for overload in ("default", "out")}  # out=: the per-member matmuls of rollouts


class TensorSpec(NamedTuple):
    size: tuple[int, ...]
    stride: tuple[int, ...]
    dtype: torch.dtype


class MatmulRecorder(TorchDispatchMode):
    """Records every matmul-class aten call (forward and backward) made inside it."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[object, tuple, dict]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in MATMULS:
            self.calls.append((func, tuple(spec_of(a) for a in args),
                               {k: spec_of(v) for k, v in kwargs.items()}))
        return func(*args, **kwargs)


def spec_of(a: object) -> object:
    """A tensor argument's TensorSpec; any other argument as it is."""
    return TensorSpec(tuple(a.shape), a.stride(), a.dtype) if isinstance(a, torch.Tensor) else a


def fresh(a: object, device: torch.device) -> object:
    """A recorded argument for the replay: a new operand for a TensorSpec."""
    return operand(a, device) if isinstance(a, TensorSpec) else a


def operand(spec: TensorSpec, device: torch.device) -> torch.Tensor:
    """A random tensor with the spec's size and strides (stride 0 for expanded inputs)."""
    extent = 1 + sum((n - 1) * s for n, s in zip(spec.size, spec.stride) if n > 0)
    base = torch.randn(extent, device=device).to(spec.dtype)
    return base.as_strided(spec.size, spec.stride)


def matmul_floor_seconds(fn: Callable[[], object], device: torch.device,
                         repeats: int = 5) -> float:
    """Median seconds to replay the matmuls one call of `fn` makes, with nothing else."""
    recorder = MatmulRecorder()
    with recorder:
        fn()
    calls = [(func, [fresh(a, device) for a in spec],
              {k: fresh(v, device) for k, v in kw.items()}) for func, spec, kw in recorder.calls]

    def replay() -> None:
        for func, args, kw in calls:
            func(*args, **kw)
        if device.type == "cuda":
            torch.cuda.synchronize()

    replay()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        replay()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]
