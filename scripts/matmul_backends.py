"""fp32 matmuls on this CPU: PyTorch's default path (MKL) against oneDNN, at this project's shapes.

Why: `torch.mm` and `torch.bmm` in fp32 go to MKL, which on an AMD CPU may not use AVX-512,
while bf16 matmuls and `torch.ops.mkldnn._linear_pointwise` (the kernel inductor calls) go
to oneDNN. Where the two differ, the benchmark's fp32 "ceiling" is MKL's, not the
machine's. Three ways are timed: `torch.bmm` as is; one `_linear_pointwise` per member;
`torch.bmm` with `torch.backends.mkldnn.matmul.fp32_precision = "bf16"`, which sends fp32
matmuls to oneDNN and *allows* it bf16 arithmetic (so each path's largest error against an
fp64 product is printed: fp32 arithmetic gives about 1e-6 here, bf16 about 1e-2).

Usage: python scripts/matmul_backends.py [--threads N] [--repeats N]
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_timing import timed  # noqa: E402
from provenance import code_commit, cpu_name  # noqa: E402
from script_args import script_parser, thread_count, whole_number  # noqa: E402

from mbpo import fp32_matmul  # noqa: E402

SHAPES = (  # (members, rows, in, out): what runs in this project, plus the 2048^3 ceiling
    (1, 2048, 2048, 2048, "torch.mm 2048^3 (the benchmark's ceiling)"),
    (2, 256, 256, 256, "SAC 2x256 hidden layer (twin critic)"),
    (2, 256, 512, 512, "SAC 2x512 hidden layer (twin critic)"),
    (7, 256, 200, 200, "model training minibatch, hidden layer"),
    (7, 2048, 200, 200, "rollout chunk, hidden layer"),
)


def onednn_linear(x: torch.Tensor, weight_t: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    return torch.ops.mkldnn._linear_pointwise(x, weight_t, bias, "none", [], "")


def main() -> None:
    parser = script_parser(__doc__)
    parser.add_argument("--threads", type=thread_count, default=0, help="torch threads (0: default)")
    parser.add_argument("--repeats", type=whole_number(1), default=200)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if not torch.backends.mkldnn.is_available():
        sys.exit("this torch build has no oneDNN (torch.backends.mkldnn.is_available() is False)")
    torch.manual_seed(0)
    print(f"{cpu_name()} | commit {code_commit()} | torch {torch.__version__} | "
          f"threads {torch.get_num_threads()}")
    print(f"{'shape [E, B, in] x [E, in, out]':<34} {'default':>9} {'oneDNN':>9} "
          f"{'bmm, bf16 allowed':>17}   {'max |error| vs fp64 (same order)':>32}  what")
    for members, rows, n_in, n_out, what in SHAPES:
        x = torch.randn(members, rows, n_in)
        w = torch.randn(members, n_in, n_out) / n_in ** 0.5
        w_t = [w[e].t().contiguous() for e in range(members)]  # oneDNN takes [out, in]
        bias = torch.zeros(n_out)
        repeats = max(3, args.repeats // (16 if rows * n_in * n_out > 2 ** 30 else 1))
        default = timed(lambda x=x, w=w: torch.bmm(x, w), repeats, warmup=3)
        onednn = timed(lambda x=x, w_t=w_t, bias=bias: [onednn_linear(x[e], w_t[e], bias)
                                                        for e in range(len(w_t))],
                       repeats, warmup=3)
        exact = torch.bmm(x.double(), w.double())
        errors = [float((torch.bmm(x, w) - exact).abs().max()),
                  max(float((onednn_linear(x[e], w_t[e], bias) - exact[e]).abs().max())
                      for e in range(members))]
        # Set unconditionally (not through fp32_matmul.select's probe): this measures it.
        torch.backends.mkldnn.matmul.fp32_precision = "bf16"
        try:
            allowed = timed(lambda x=x, w=w: torch.bmm(x, w), repeats, warmup=3)
            errors.append(float((torch.bmm(x, w) - exact).abs().max()))
        finally:
            fp32_matmul.select("mkl")  # torch's default
        gflop = 2 * members * rows * n_in * n_out / 1e9
        shape = f"[{members}, {rows}, {n_in}] x [{members}, {n_in}, {n_out}]"
        error_text = " / ".join(f"{e:.1e}" for e in errors)
        print(f"{shape:<34} {gflop / default:>9.0f} {gflop / onednn:>9.0f} "
              f"{gflop / allowed:>9.0f} {default / allowed:>5.2f}x   {error_text:>32}  {what}")
    print("GFLOP/s; default: torch.bmm as the project calls it (MKL on a CPU build); "
          "oneDNN: one _linear_pointwise per member; bmm, bf16 allowed: torch.bmm under "
          "mkldnn.matmul.fp32_precision='bf16', and its speed-up over the default")


if __name__ == "__main__":
    main()
