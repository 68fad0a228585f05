"""Measurement primitives of the speed scripts: timing, FLOP counts, each row's torch.mm
ceiling measured beside it (the peak drifts on a shared machine) and its matmul floor."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

from mbpo.precision import native_bf16

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}  # the precisions the scripts time


def default_precisions(device: torch.device) -> list[str]:
    """fp32, and bf16 where it is native on `device`: emulated bf16 (a CPU without
    AVX512-BF16) is slower than fp32 and never picked by precision=auto, and timing it
    (2048^3 mm peaks included) took over ten minutes of a --quick benchmark."""
    return list(DTYPES) if native_bf16(device) else ["fp32"]


def timed(fn: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    """Mean seconds per call after `warmup` untimed calls."""
    for _ in range(warmup):
        fn()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def count_flops(fn: Callable[[], object]) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def mm_peak(device: torch.device, dtype: torch.dtype, n: int = 2048) -> float:
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    seconds = timed(lambda: sync(device, a @ b), repeats=10, warmup=3)
    return 2 * n**3 / seconds / 1e9


def against_mm(device: torch.device, bf16: bool, measure: Callable[[], dict]) -> dict:
    """Run `measure` between two torch.mm measurements in the same precision and state its
    GFLOP/s as a fraction of their mean: on a shared machine the peak drifts by 10-30%
    within minutes, so each row gets the ceiling measured next to it."""
    dtype = torch.bfloat16 if bf16 else torch.float32
    before = mm_peak(device, dtype)
    row = measure()
    peak = (before + mm_peak(device, dtype)) / 2
    row["mm_gflops"] = peak
    for key in ("gflops", "floor_gflops", "bound_gflops"):
        if key in row:
            row[key.replace("gflops", "frac_of_mm")] = row[key] / peak
    return row


def with_floor(row: dict, seconds: float, floor_seconds: float) -> dict:
    """Add the matmul floor: the row's FLOPs at the floor's speed, and its share of time."""
    row["floor_gflops"] = row["gflops"] * seconds / floor_seconds
    row["matmul_share"] = floor_seconds / seconds
    return row


def sync(device: torch.device, x: object = None) -> object:
    if device.type == "cuda":
        torch.cuda.synchronize()
    return x
