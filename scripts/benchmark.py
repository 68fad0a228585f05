"""Throughput benchmark: every hot path as a fraction of this machine's own matmul peak.

Usage: python scripts/benchmark.py OUT_DIR [--quick] [--threads N] [--device cpu|cuda]
                                   [--sections sac,rollouts,model,loop] [--malloc tuned|default]
                                   [--precisions fp32,bf16] [--loop-precisions fp32,bf16]
                                   [--fp32-matmul auto|mkl|onednn]

Measures in one process, in each of --precisions, prints a table and writes
OUT_DIR/benchmark.json:
  - torch.mm GFLOP/s: the ceilings; every ratio below is taken against mm measured right
    before and after its own row, as the peak drifts on a shared machine;
  - model rollouts at MBPO's settings (7 members, 4x200, 100k start states, H=1 and 10,
    policy included), and the straightforward per-state, per-member way (fp32);
  - model training on real Hopper data: samples/s, GFLOP/s, and wall time to early stop;
  - SAC updates at batch 256, 2x256 and 2x512;
  - the full loop's steady-state env steps/s on Hopper-v5 (MBPO's settings) and on
    HalfCheetah-v5 at the peer library's settings, over two 250-step windows after the
    cold first model fit (each with a model fit and a rollout), with time shares and
    peak memory (in each of --loop-precisions, by default the same).
--precisions defaults to fp32, and bf16 too where it runs natively (mbpo.precision.
native_bf16: a CUDA GPU from Ampere on, a CPU with AVX512-BF16 or AMX); elsewhere bf16 is
emulated, slower than fp32 and never chosen by precision=auto, and its 2048^3 matmul peaks
alone take minutes. `--precisions fp32,bf16` measures it anyway.
FLOPs are counted by torch.utils.flop_counter on the real calls, not estimated.
Each rate row also gets its matmul floor (scripts/matmul_floor.py): its own matmul calls
replayed alone. `floor_frac_of_mm` is how close to mm those shapes can get on this machine;
`matmul_share` is the part of the row's time they need, the rest being overhead. SAC rows
also time the same update on 8 rows of 8 units (`eager_ms`: about eager PyTorch's own cost
per update, with almost no arithmetic); `bound_frac_of_mm` adds it to the matmul floor: about
the best an eager update of that op graph could reach with its elementwise work free.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from bench_loop import LOOP_PRECISIONS, bench_loop
from bench_sections import bench_model_training, bench_rollouts, bench_sac
from bench_targets import check_targets, fmt, section_of
from bench_timing import DTYPES, default_precisions, mm_peak
from provenance import code_commit, cpu_name
from script_args import names_from, script_parser, thread_count

from mbpo import fp32_matmul
from mbpo.allocator import keep_freed_memory
from mbpo.precision import resolve_precision

SECTIONS = ("sac", "rollouts", "model", "loop")


def device_here(value: str) -> torch.device:
    """An argparse type: cpu, or a CUDA device that torch sees on this machine."""
    try:
        device = torch.device(value)
    except RuntimeError:
        device = None
    if device is None or device.type not in ("cpu", "cuda"):
        raise argparse.ArgumentTypeError(f"{value!r} is not cpu, cuda or cuda:N")
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if (device.index or 0) >= count:
            raise argparse.ArgumentTypeError(
                f"{value!r}, but torch sees {count} CUDA device(s) here; choose cpu"
                + (f" or cuda:0-{count - 1}" if count else ""))
    return device


def main() -> None:
    parser = script_parser(__doc__)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke check")
    parser.add_argument("--threads", type=thread_count, default=0, help="torch threads (0: default)")
    parser.add_argument("--device", type=device_here, default=torch.device("cpu"),
                        help="cpu, cuda or cuda:N")
    parser.add_argument("--malloc", choices=("tuned", "default"), default="tuned",
                        help="tuned: mbpo.allocator.keep_freed_memory(), as training does; "
                             "default: glibc's own settings, for a before/after")
    parser.add_argument("--sections", type=names_from(SECTIONS), default=list(SECTIONS),
                        help="comma-separated subset of sac,rollouts,model,loop; rows of "
                             "other sections already in OUT_DIR/benchmark.json are kept")
    parser.add_argument("--fp32-matmul", choices=fp32_matmul.BACKENDS, default="mkl",
                        help="CPU backend of fp32 matmuls, as a run's fp32_matmul= "
                             "(onednn only where a probe shows it stays fp32)")
    parser.add_argument("--precisions", type=names_from(DTYPES), default=None,
                        help="comma-separated subset of fp32,bf16 for the mm peaks and the "
                             "sac, rollouts and model sections (default: fp32, and bf16 "
                             "where it is native on the device)")
    parser.add_argument("--loop-precisions", type=names_from(LOOP_PRECISIONS), default=None,
                        help="comma-separated subset of fp32,bf16: the loop section's runs "
                             "(default: as --precisions)")
    args = parser.parse_args()
    precisions = args.precisions or default_precisions(args.device)
    chosen, loop_labels = args.sections, args.loop_precisions or precisions
    if args.threads:
        torch.set_num_threads(args.threads)
    device = args.device
    backend, why = fp32_matmul.select(args.fp32_matmul)
    tuned = args.malloc == "tuned" and keep_freed_memory()
    torch.manual_seed(0)
    header = (f"{cpu_name()} | commit {code_commit()} | "
              f"torch {torch.__version__} | "
              f"threads {torch.get_num_threads()} | device {device} | "
              f"malloc {'tuned' if tuned else 'default'} | fp32 matmuls {backend}"
              f"{f' ({why})' if why else ''} | precision=auto here: "
              f"{resolve_precision('auto', device).describe()} | measured in "
              f"{', '.join(precisions)}"
              + (f", loop in {', '.join(loop_labels)}" if loop_labels != precisions else "")
              + ("" if "bf16" in precisions + loop_labels or args.precisions else
                 " (bf16 is not native here; --precisions fp32,bf16 measures it)"))
    args.out_dir.mkdir(parents=True, exist_ok=True)
    out_file = args.out_dir / "benchmark.json"

    def save(rows: list[dict], targets: list[str]) -> None:
        """Written after every section, so an interrupted benchmark keeps what it measured."""
        out_file.write_text(json.dumps({"machine": header, "date": time.strftime("%Y-%m-%d %H:%M"),
                                        "rows": rows, "targets": targets}, indent=2))

    peaks = {p: mm_peak(device, DTYPES[p]) for p in precisions}
    rows = [{"name": "torch.mm 2048^3", "precision": p, "gflops": g} for p, g in peaks.items()]
    print(header)
    for row in rows:
        print(fmt(row), flush=True)
    available = {
        "sac": [bench_sac], "rollouts": [bench_rollouts], "model": [bench_model_training],
        "loop": [lambda d, q, _, label=label: bench_loop(d, q, label)
                 for label in loop_labels],
    }
    if set(chosen) != set(available) and out_file.is_file():  # keep the other sections' rows
        kept = [r for r in json.loads(out_file.read_text())["rows"]
                if section_of(r["name"]) not in chosen and not r["name"].startswith("torch.mm")]
        rows += kept
    for section in (f for name in chosen for f in available[name]):
        new_rows = section(device, args.quick, precisions)
        for row in new_rows:
            print(fmt(row), flush=True)
        rows += new_rows
        save(rows, [])
    targets = check_targets(rows)
    print("\nTargets (fractions of this run's torch.mm in the same precision):")
    print("\n".join(targets))
    save(rows, targets)
    print(f"\nwrote {out_file}")


if __name__ == "__main__":
    main()
