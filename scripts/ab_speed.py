"""Speed A/B: this tree's hot paths against another git revision's, in one process.

Usage: python scripts/ab_speed.py REV [--threads N] [--rounds N] [--malloc tuned|default]
                                     [--only SAC|model|rollout] [--fp32-matmul auto|mkl|onednn]
                                     [--precisions fp32,bf16]

On a shared machine the matmul ceiling drifts by 10-30% within minutes, so two benchmark
runs minutes apart cannot show a 10% change. This script imports REV's `mbpo` package as
`mbpo_ref` next to the working tree's `mbpo` and times both on the same inputs in
alternating rounds (SAC update at 2x256 and 2x512, one model-training epoch on 10k
transitions, a rollout phase of 20k start states at H=5 with no sample ending and one with
a fifth ending at random per step, so that row counts vary as in a run), in fp32 and, where
the CPU runs it natively or --precisions asks, bf16, then prints the median time of each
and their ratio. The allocator setting is process-wide, so it is
compared by running the script twice (--malloc default / tuned).
"""

from __future__ import annotations

import importlib
import inspect
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from bench_timing import DTYPES, default_precisions
from script_args import git_revision, names_from, script_parser, thread_count, whole_number

from mbpo import fp32_matmul

ROOT = Path(__file__).resolve().parents[1]
OBS, ACT = 11, 3  # Hopper-v5


def import_revision(rev: str, into: Path) -> object:
    """REV's mbpo package, importable as `mbpo_ref` (its own imports rewritten)."""
    files = subprocess.run(["git", "-C", str(ROOT), "ls-tree", "--name-only", rev, "mbpo/"],
                           capture_output=True, text=True, check=True).stdout.split()
    package = into / "mbpo_ref"
    package.mkdir()
    for name in files:
        source = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:{name}"],
                                capture_output=True, text=True, check=True).stdout
        source = re.sub(r"\b(from|import) mbpo\b", r"\1 mbpo_ref", source)
        (package / Path(name).name).write_text(source)
    sys.path.insert(0, str(into))
    return importlib.import_module("mbpo_ref")


def padding(fn: Callable, name: str, module, constant: str) -> dict[str, int]:
    """The keyword that pads rows as a default run does (row_padding), where `fn` takes one:
    revisions from before the model owned the setting passed it to each call (or had a
    module constant, or none)."""
    accepts = name in inspect.signature(fn).parameters
    return {name: getattr(module, constant)} if accepts else {}


def padded_model(ensemble) -> object:
    """A default model, padding rows as a default run does where the model owns that."""
    accepts = "row_padding" in inspect.signature(ensemble.GaussianEnsemble).parameters
    return ensemble.GaussianEnsemble(OBS, ACT, **({"row_padding": True} if accepts else {}))


def cases(pkg: str, bf16: bool) -> dict[str, Callable[[], None]]:
    """The timed calls, built from package `pkg` (mbpo or mbpo_ref) with seed 0."""
    buffer = importlib.import_module(f"{pkg}.buffer")
    ensemble = importlib.import_module(f"{pkg}.ensemble")
    envs = importlib.import_module(f"{pkg}.envs")
    rollout = importlib.import_module(f"{pkg}.rollout")
    sac = importlib.import_module(f"{pkg}.sac")
    schedules = importlib.import_module(f"{pkg}.schedules")
    training = importlib.import_module(f"{pkg}.model_training")
    torch.manual_seed(0)
    low, high = np.full(ACT, -1.0), np.full(ACT, 1.0)
    batch = buffer.Batch(torch.randn(256, OBS), torch.rand(256, ACT) * 2 - 1, torch.randn(256),
                         torch.randn(256, OBS), torch.zeros(256))
    agents = {h: sac.SAC(OBS, ACT, low, high, hidden_size=h, bf16=bf16) for h in (256, 512)}
    model = padded_model(ensemble)
    trainer = training.EnsembleTrainer(
        model, max_epochs=1, patience=100, bf16=bf16,
        **padding(training.EnsembleTrainer, "holdout_row_multiple", training, "HOLDOUT_ROW_MULTIPLE"))
    n = 10_000
    data = (torch.randn(n, OBS), torch.rand(n, ACT) * 2 - 1, torch.randn(n), torch.randn(n, OBS))
    start = torch.randn(20_000, OBS)
    pool = buffer.TransitionBuffer(OBS, ACT, 20_000 * 5, torch.device("cpu"))

    rows = padding(rollout.rollout_model, "row_multiple", rollout, "ROW_MULTIPLE")

    def rollout_phase() -> None:
        first = rollout.first_step(model, agents[256].actor, start, 2048, bf16, **rows)
        rollout.rollout_model(model, agents[256].actor, first, schedules.RolloutPlan(5),
                              envs.never_rule(), pool, 2048, bf16, **rows)

    # A fifth of the samples end at each step, at random: each phase leaves chunks of new row
    # counts, as terminations do in a run (so the matmul shapes vary from phase to phase).
    def fifth_ends(*args: torch.Tensor) -> torch.Tensor:  # (next_obs) or (obs, act, next_obs)
        return torch.rand(args[-1].shape[0]) < 0.2

    def terminating_rollout_phase() -> None:
        first = rollout.first_step(model, agents[256].actor, start, 2048, bf16, **rows)
        rollout.rollout_model(model, agents[256].actor, first, schedules.RolloutPlan(5),
                              fifth_ends, pool, 2048, bf16, **rows)

    def sac_updates(agent) -> Callable[[], None]:
        return lambda: [agent.update(batch) for _ in range(20)]  # one env step's G

    return {"SAC 2x256, 20 updates": sac_updates(agents[256]),
            "SAC 2x512, 20 updates": sac_updates(agents[512]),
            "model training, 1 epoch of 8k": lambda: trainer.fit(*data),
            "rollout phase, 20k x H=5": rollout_phase,
            "rollout phase, 20k x H=5, a fifth ending per step": terminating_rollout_phase}


def main() -> None:
    parser = script_parser(__doc__)
    parser.add_argument("rev", type=git_revision,
                        help="git revision to compare against, e.g. HEAD~3 or a hash")
    parser.add_argument("--threads", type=thread_count, default=0, help="torch threads (0: default)")
    parser.add_argument("--rounds", type=whole_number(1), default=7)
    parser.add_argument("--malloc", choices=("tuned", "default"), default="tuned")
    parser.add_argument("--only", choices=("SAC", "model", "rollout"), default="",
                        help="time only the cases whose name starts so (default: all)")
    parser.add_argument("--fp32-matmul", choices=fp32_matmul.BACKENDS, default="mkl",
                        help="CPU backend of fp32 matmuls for both trees (process-wide; "
                             "mkl, torch's default, is what a revision before it ran)")
    parser.add_argument("--precisions", type=names_from(DTYPES), default=None,
                        help="comma-separated subset of fp32,bf16 (default: fp32, and bf16 "
                             "where this CPU runs it natively)")
    args = parser.parse_args()
    precisions = args.precisions or default_precisions(torch.device("cpu"))
    if args.threads:
        torch.set_num_threads(args.threads)
    from mbpo.allocator import keep_freed_memory

    tuned = args.malloc == "tuned" and keep_freed_memory()
    backend, _ = fp32_matmul.select(args.fp32_matmul)
    rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", args.rev],
                         capture_output=True, text=True, check=True).stdout.strip()
    here = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
                          capture_output=True, text=True, check=True).stdout.strip()
    print(f"this tree ({here}) vs {rev} | torch {torch.__version__} | threads "
          f"{torch.get_num_threads()} | malloc {'tuned' if tuned else 'default'} | "
          f"fp32 matmuls {backend} | "
          f"median of {args.rounds} alternating rounds | {', '.join(precisions)}")
    with tempfile.TemporaryDirectory() as tmp:
        import_revision(args.rev, Path(tmp))
        for bf16 in (p == "bf16" for p in precisions):
            new, ref = cases("mbpo", bf16), cases("mbpo_ref", bf16)
            for name in (n for n in new if n.startswith(args.only)):
                times: dict[str, list[float]] = {"ref": [], "new": []}
                for fn in (ref[name], new[name]):  # warm-up
                    fn()
                for _ in range(args.rounds):
                    for key, fn in (("ref", ref[name]), ("new", new[name])):
                        tic = time.perf_counter()
                        fn()
                        times[key].append(time.perf_counter() - tic)
                r, n = np.median(times["ref"]), np.median(times["new"])
                print(f"{name:<32s} {'bf16' if bf16 else 'fp32'}  {rev}: {r * 1e3:8.1f} ms   "
                      f"this tree: {n * 1e3:8.1f} ms   speedup {r / n:.2f}x", flush=True)


if __name__ == "__main__":
    main()
