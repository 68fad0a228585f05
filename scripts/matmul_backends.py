"""fp32 matmuls on this CPU: PyTorch's default path (MKL) against oneDNN, at this project's shapes.

Why: `torch.mm` and `torch.bmm` in fp32 go to MKL, which on an AMD CPU may not use AVX-512,
while bf16 matmuls and `torch.ops.mkldnn._linear_pointwise` (the kernel inductor calls) go
to oneDNN. Where the two differ, the benchmark's fp32 "ceiling" is MKL's, not the
machine's. Prints GFLOP/s per shape, the ratio, and the largest difference between the two
results (both are fp32; only the summation order differs).

Usage: python scripts/matmul_backends.py [--threads N] [--repeats N]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from provenance import code_commit, cpu_name  # noqa: E402

SHAPES = (  # (members, rows, in, out): what runs in this project, plus the 2048^3 ceiling
    (1, 2048, 2048, 2048, "torch.mm 2048^3 (the benchmark's ceiling)"),
    (2, 256, 256, 256, "SAC 2x256 hidden layer (twin critic)"),
    (2, 256, 512, 512, "SAC 2x512 hidden layer (twin critic)"),
    (7, 256, 200, 200, "model training minibatch, hidden layer"),
    (7, 2048, 200, 200, "rollout chunk, hidden layer"),
)


def seconds_per_call(fn: Callable[[], object], repeats: int) -> float:
    for _ in range(3):
        fn()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def onednn_linear(x: torch.Tensor, weight_t: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    return torch.ops.mkldnn._linear_pointwise(x, weight_t, bias, "none", [], "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if not torch.backends.mkldnn.is_available():
        sys.exit("this torch build has no oneDNN (torch.backends.mkldnn.is_available() is False)")
    torch.manual_seed(0)
    print(f"{cpu_name()} | commit {code_commit()} | torch {torch.__version__} | "
          f"threads {torch.get_num_threads()}")
    print(f"{'shape [E, B, in] x [E, in, out]':<34} {'default':>9} {'oneDNN':>9} {'ratio':>6} "
          f"{'max |diff|':>10}  what")
    for members, rows, n_in, n_out, what in SHAPES:
        x = torch.randn(members, rows, n_in)
        w = torch.randn(members, n_in, n_out) / n_in ** 0.5
        w_t = [w[e].t().contiguous() for e in range(members)]  # oneDNN takes [out, in]
        bias = torch.zeros(n_out)
        repeats = max(3, args.repeats // (16 if rows * n_in * n_out > 2 ** 30 else 1))
        default = seconds_per_call(lambda x=x, w=w: torch.bmm(x, w), repeats)
        onednn = seconds_per_call(
            lambda x=x, w_t=w_t, bias=bias: [onednn_linear(x[e], w_t[e], bias)
                                             for e in range(len(w_t))], repeats)
        diff = max(float((torch.bmm(x, w)[e] - onednn_linear(x[e], w_t[e], bias)).abs().max())
                   for e in range(members))
        gflop = 2 * members * rows * n_in * n_out / 1e9
        shape = f"[{members}, {rows}, {n_in}] x [{members}, {n_in}, {n_out}]"
        print(f"{shape:<34} {gflop / default:>9.0f} {gflop / onednn:>9.0f} "
              f"{default / onednn:>5.2f}x {diff:>10.1e}  {what}")
    print("GFLOP/s; default: torch.bmm as the project calls it (MKL on a CPU build); "
          "oneDNN: one _linear_pointwise per member")


if __name__ == "__main__":
    main()
