"""Throughput benchmark: every hot path as a fraction of this machine's own matmul peak.

Usage: python scripts/benchmark.py OUT_DIR [--quick] [--threads N] [--device cpu|cuda]
                                   [--sections sac,rollouts,model,loop] [--malloc tuned|default]
                                   [--loop-precisions fp32,bf16] [--fp32-matmul auto|mkl|onednn]

Measures in one process, prints a table and writes OUT_DIR/benchmark.json:
  - torch.mm GFLOP/s (fp32, bf16): the ceilings; every ratio below is taken against mm
    measured right before and after its own row, as the peak drifts on a shared machine;
  - model rollouts at MBPO's settings (7 members, 4x200, 100k start states, H=1 and 10,
    policy included), fp32 and bf16, and the straightforward per-state, per-member way;
  - model training on real Hopper data: samples/s, GFLOP/s, and wall time to early stop;
  - SAC updates at batch 256, 2x256 and 2x512, fp32 and bf16;
  - the full loop's steady-state env steps/s on Hopper-v5 (MBPO's settings) and on
    HalfCheetah-v5 at the peer library's settings, over two 250-step windows after the
    cold first model fit (each with a model fit and a rollout), with time shares and
    peak memory, in fp32 and in bf16.
FLOPs are counted by torch.utils.flop_counter on the real calls, not estimated.
Each rate row also gets its matmul floor (scripts/matmul_floor.py): its own matmul calls
replayed alone. `floor_frac_of_mm` is how close to mm those shapes can get on this machine;
`matmul_share` is the part of the row's time they need, the rest being overhead. SAC rows
also time the same update on 8 rows of 8 units (`eager_ms`: about eager PyTorch's own cost
per update, with almost no arithmetic); `bound_frac_of_mm` adds it to the matmul floor: about
the best an eager update of that op graph could reach with its elementwise work free.
"""

from __future__ import annotations

import copy
import json
import os
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from matmul_floor import matmul_floor_seconds
from peak_rss import reset_peak_rss
from provenance import code_commit, cpu_name
from script_args import script_parser
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from mbpo import fp32_matmul
from mbpo.allocator import keep_freed_memory
from mbpo.buffer import Batch, TransitionBuffer
from mbpo.ensemble import GaussianEnsemble
from mbpo.envs import make_env, never_rule
from mbpo.model_training import EnsembleTrainer
from mbpo.precision import resolve_precision
from mbpo.rollout import first_step, model_step, rollout_model
from mbpo.sac import SAC
from mbpo.schedules import RolloutPlan

OBS, ACT = 11, 3  # Hopper-v5


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


def bench_rollouts(device, quick) -> list[dict]:
    """A whole rollout phase: the first step of every start state, then H - 1 more."""
    n_start, chunk = (20_000 if quick else 100_000), 2048
    model = GaussianEnsemble(OBS, ACT, row_padding=True).to(device)  # 7 members, 4x200
    agent = SAC(OBS, ACT, np.full(ACT, -1.0), np.full(ACT, 1.0), device=device)
    start = torch.randn(n_start, OBS, device=device)
    rows = []
    for horizon in (1, 10):
        buffer = TransitionBuffer(OBS, ACT, n_start * horizon, device)
        plan = RolloutPlan(horizon)
        for bf16 in (False, True):
            def run(bf16=bf16):
                # Padded as a default run pads (row_padding); only a last chunk is affected.
                first = first_step(model, agent.actor, start, chunk, bf16)
                rollout_model(model, agent.actor, first, plan, never_rule(), buffer, chunk, bf16)
                sync(device)
            def one_step(bf16=bf16):
                model_step(model, agent.actor, start[:chunk], bf16)
            flops = count_flops(one_step) / chunk * n_start * horizon

            def measure(run=run, flops=flops, horizon=horizon, one_step=one_step, bf16=bf16):
                seconds = timed(run, repeats=2 if horizon == 1 else 1)  # warm-up fills the buffer
                floor = matmul_floor_seconds(one_step, device) / chunk * n_start * horizon
                return with_floor({"name": f"rollout H={horizon}",
                                   "precision": "bf16" if bf16 else "fp32",
                                   "transitions_per_s": n_start * horizon / seconds,
                                   "gflops": flops / seconds / 1e9}, seconds, floor)

            rows.append(against_mm(device, bf16, measure))
    # The straightforward way: start state by start state, member by member, in Python.
    members = [nn.Sequential(nn.Linear(OBS + ACT, 200), nn.SiLU(), nn.Linear(200, 200), nn.SiLU(),
                             nn.Linear(200, 200), nn.SiLU(), nn.Linear(200, 200), nn.SiLU(),
                             nn.Linear(200, 2 * (OBS + 1))).to(device) for _ in range(7)]
    n_naive, horizon = 50 if quick else 200, 10

    @torch.no_grad()
    def naive():
        for state in start[:n_naive]:
            s = state.unsqueeze(0)
            for _ in range(horizon):
                a, _ = agent.actor.sample(s)
                preds = torch.stack([m(torch.cat([s, a], -1)) for m in members])
                _ = preds[:, :, : OBS + 1].var(dim=0).mean().item()
                s = s + preds[np.random.randint(7), :, :OBS]
        sync(device)

    seconds = timed(naive, repeats=1)
    naive_tps = n_naive * horizon / seconds
    batched = next(r for r in rows if r["name"] == "rollout H=10" and r["precision"] == "fp32")
    rows.append({"name": "rollout H=10 straightforward", "precision": "fp32",
                 "transitions_per_s": naive_tps,
                 "speedup_of_batched": batched["transitions_per_s"] / naive_tps})
    return rows


def hopper_data(n: int) -> tuple[torch.Tensor, ...]:
    """n real Hopper-v5 transitions under uniformly random actions."""
    env = make_env("Hopper-v5")
    env.action_space.seed(0)
    obs, _ = env.reset(seed=0)
    out = {k: [] for k in ("obs", "act", "rew", "next_obs")}
    for _ in range(n):
        act = env.action_space.sample()
        next_obs, rew, term, trunc, _ = env.step(act)
        for k, v in zip(out, (obs, act, rew, next_obs)):
            out[k].append(v)
        obs = env.reset()[0] if term or trunc else next_obs
    return tuple(torch.as_tensor(np.array(v), dtype=torch.float32) for v in out.values())


def bench_model_training(device, quick) -> list[dict]:
    data = [t.to(device) for t in hopper_data(10_000 if quick else 50_000)]
    rows = []
    for bf16 in (False, True):
        torch.manual_seed(0)  # the same model whichever sections ran before
        model = GaussianEnsemble(OBS, ACT, row_padding=True).to(device)
        trainer = EnsembleTrainer(model, max_epochs=1 if quick else 2, patience=100, bf16=bf16)
        n = data[0].shape[0]
        n_train = n - min(int(0.2 * n), 5000)
        inputs = torch.cat([data[0], data[1]], -1)
        targets = torch.randn(7, 256, OBS + 1, device=device)
        idx = torch.randint(n, (7, 256), device=device)

        hold_x = torch.randn(n - n_train, OBS + ACT, device=device)
        hold_y = torch.randn(n - n_train, OBS + 1, device=device)

        def step():
            loss = trainer.loss(inputs[idx], targets)
            loss.backward()

        def holdout():
            trainer.holdout_mse(hold_x, hold_y)

        # Every matmul of the timed fit, the holdout checks included: counted on a copy,
        # with the random streams put back so the timed fit draws the same numbers.
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            counted = {}
            fit_flops = count_flops(lambda: counted.update(copy.deepcopy(trainer).fit(*data)))

        def measure(trainer=trainer, fit_flops=fit_flops, n=n, n_train=n_train, bf16=bf16,
                    counted=counted):
            start = time.perf_counter()
            metrics = trainer.fit(*data)
            sync(device)
            seconds = time.perf_counter() - start
            assert metrics["epochs"] == counted["epochs"], "the counted fit differs"
            samples = metrics["epochs"] * n_train
            # One holdout check before the first epoch, one after each, one for the elites.
            floor = (matmul_floor_seconds(step, device) / 256 * samples
                     + matmul_floor_seconds(holdout, device) * (metrics["epochs"] + 2))
            return with_floor({"name": f"model training ({n // 1000}k transitions)",
                               "precision": "bf16" if bf16 else "fp32",
                               "samples_per_s": samples / seconds,
                               "gflops": fit_flops / seconds / 1e9},
                              seconds, floor)

        rows.append(against_mm(device, bf16, measure))
    for n in ((5_000,) if quick else (10_000, 50_000)):
        for bf16 in (False, True):
            # Seeded per fit: the same initial model and minibatch draws in every run of the
            # benchmark, whichever sections ran before, so fits compare epoch for epoch.
            torch.manual_seed(0)
            model = GaussianEnsemble(OBS, ACT, row_padding=True).to(device)
            trainer = EnsembleTrainer(model, bf16=bf16)
            start = time.perf_counter()
            metrics = trainer.fit(*(t[:n] for t in data))
            rows.append({"name": f"model fit to early stop ({n // 1000}k)",
                         "precision": "bf16" if bf16 else "fp32",
                         "wall_s": time.perf_counter() - start, "epochs": metrics["epochs"],
                         "holdout_mse": metrics["holdout_mse"]})
    return rows


def sac_batch(rows: int, device: torch.device) -> Batch:
    return Batch(torch.randn(rows, OBS, device=device), torch.rand(rows, ACT, device=device),
                 torch.randn(rows, device=device), torch.randn(rows, OBS, device=device),
                 torch.zeros(rows, device=device))


def eager_update_seconds(bf16: bool, device: torch.device, quick: bool) -> float:
    """The same update on 8 rows of 8 units: the same ops with almost no arithmetic, so
    about what eager PyTorch costs per update (Python, dispatch, autograd, optimiser calls)
    before any matmul or elementwise work. It includes the tiny matmuls' own dispatch,
    which the matmul floor counts too, so floor + this somewhat overstates the least time."""
    tiny = SAC(OBS, ACT, np.full(ACT, -1.0), np.full(ACT, 1.0), hidden_size=8, bf16=bf16,
               device=device)
    batch = sac_batch(8, device)
    return timed(lambda: sync(device, tiny.update(batch)), repeats=50 if quick else 300,
                 warmup=20)


def bench_sac(device, quick) -> list[dict]:
    rows = []
    batch = sac_batch(256, device)
    for hidden in (256, 512):
        for bf16 in (False, True):
            agent = SAC(OBS, ACT, np.full(ACT, -1.0), np.full(ACT, 1.0), hidden_size=hidden,
                        bf16=bf16, device=device)
            flops = count_flops(lambda: agent.update(batch))

            def measure(agent=agent, flops=flops, hidden=hidden, bf16=bf16):
                seconds = timed(lambda: sync(device, agent.update(batch)),
                                repeats=50 if quick else 300, warmup=20)
                floor = matmul_floor_seconds(lambda: agent.update(batch), device, repeats=21)
                eager = eager_update_seconds(bf16, device, quick)
                # About the best fraction of mm this op graph can reach in eager PyTorch
                # here: matmuls at their floor plus eager's per-update cost, elementwise free.
                return with_floor({"name": f"SAC update 2x{hidden}",
                                   "precision": "bf16" if bf16 else "fp32",
                                   "ms_per_update": seconds * 1e3, "updates_per_s": 1 / seconds,
                                   "gflops": flops / seconds / 1e9, "eager_ms": eager * 1e3,
                                   "bound_gflops": flops / (floor + eager) / 1e9},
                                  seconds, floor)

            rows.append(against_mm(device, bf16, measure))
    return rows


LOOP_PRECISIONS = {  # row label -> overrides; auto is fp32 until a check clears bf16
    "fp32": ["precision=fp32"],
    "bf16": ["precision=bf16"],  # SAC, model training and rollouts
}


def resident_gib() -> float:
    """Resident memory now (Linux; NaN elsewhere). A loop row's peak counts what the
    process still held from earlier sections, which malloc_trim could not hand back; this,
    taken at the loop's start, says how much that was."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return float("nan")
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**30


def bench_loop(device, quick, label: str) -> list[dict]:
    from hydra import compose, initialize_config_dir

    from mbpo.config import register_configs
    from mbpo.events import read_scalars
    from mbpo.logger import RunLogger
    from mbpo.loop import run_mbpo
    from mbpo.train import build, run_settings, seed_everything, start_state

    register_configs()
    conf = str(Path(__file__).resolve().parents[1] / "conf")
    # Steady state: the first window after the random steps holds the cold first model fit
    # and is discarded; the measured windows each start with a warm model fit and rollout.
    window, measured = 250, (1 if quick else 2)
    cases = {
        "Hopper-v5, MBPO settings (G=20, SAC 2x256, linear schedule)":
            ["env=hopper", "rollout=linear"],
        "HalfCheetah-v5, peer settings (G=10, SAC 2x512, H=1)":
            ["env=halfcheetah", "rollout=fixed", "rollout.h=1", "updates_per_step=10",
             "agent.hidden_size=512"],
    }
    rows = []
    for name, overrides in cases.items():
        with initialize_config_dir(config_dir=conf, version_base=None):
            cfg = compose(config_name="config", overrides=overrides + [
                f"total_steps={5000 + (1 + measured) * window}", f"eval_every={window}",
                "eval_episodes=1", f"log_every={window}", *LOOP_PRECISIONS[label]])
        settings = run_settings(cfg)
        precision = resolve_precision(cfg.precision.value, device, cfg.bf16_components)
        # Seeded as a training run is: the same data and the same fits (so the same
        # early-stopping epochs) in every benchmark run, whose windows then differ in speed only.
        seed_everything(cfg.seed)
        # The loop run's own peak, as in a training process, not earlier sections'.
        rss_scope = ("this loop run" if reset_peak_rss(release_freed=True)
                     else "the benchmark process so far")
        rss_at_start = resident_gib()
        components = build(cfg, device, settings, precision)
        state = start_state(components, cfg.seed)
        with tempfile.TemporaryDirectory() as tmp:
            log = RunLogger(Path(tmp), console=True)
            run_mbpo(components, settings, log, state)
            log.close()
            perf = {k.split("/")[1]: [v for _, v in series[-measured:]]
                    for k, series in read_scalars(tmp).items() if k.startswith("perf/")}
        total = sum(window / v for v in perf["env_steps_per_s"])
        spent = {k: sum(perf[k]) for k in ("model_train_s", "rollout_s", "sac_s")}
        rows.append({"name": name, "precision": label, "components": precision.describe(),
                     "env_steps_per_s": measured * window / total,
                     "window_env_steps": measured * window,
                     "share_model_train": spent["model_train_s"] / total,
                     "share_rollout": spent["rollout_s"] / total,
                     "share_sac": spent["sac_s"] / total,
                     "share_env_and_other": 1 - sum(spent.values()) / total,
                     "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
                     "peak_rss_of": rss_scope, "rss_at_start_gib": rss_at_start})
        del components, state  # before the next case's peak count starts
    return rows


def section_of(name: str) -> str:
    """Which section a row came from, by its name."""
    if name.startswith("SAC"):
        return "sac"
    if name.startswith("rollout"):
        return "rollouts"
    if name.startswith("model"):
        return "model"
    return "loop"


def fmt(row: dict) -> str:
    skip = {"name", "precision"}
    cells = []
    for k, v in row.items():
        if k in skip:
            continue
        cells.append(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}")
    return f"{row['name']:<62s} {row.get('precision', ''):>8s}  " + "  ".join(cells)


TARGETS = [  # (row name prefix, precision, key, minimum, what)
    ("rollout H=10", "fp32", "frac_of_mm", 0.70, "rollouts >= 70% of mm"),
    ("rollout H=10", "bf16", "frac_of_mm", 0.70, "rollouts >= 70% of mm"),
    ("model training", "fp32", "frac_of_mm", 0.60, "model training >= 60% of mm"),
    ("model training", "bf16", "frac_of_mm", 0.60, "model training >= 60% of mm"),
    ("SAC update 2x512", "fp32", "frac_of_mm", 0.75, "SAC 2x512 >= 75% of mm"),
    ("SAC update 2x512", "bf16", "frac_of_mm", 0.75, "SAC 2x512 >= 75% of mm"),
    ("SAC update 2x256", "fp32", "frac_of_mm", 0.60, "SAC 2x256 >= 60% of mm"),
    ("SAC update 2x256", "bf16", "frac_of_mm", 0.60, "SAC 2x256 >= 60% of mm"),
    ("rollout H=10 straightforward", "fp32", "speedup_of_batched", 20.0, "batched >= 20x naive"),
]


PEER_HALFCHEETAH_STEPS_PER_S = 3.65
"""The peer library (mbrl-lib) at its own HalfCheetah settings on this kind of machine, as
measured for issue #9; it is not installed or re-measured here."""


def check_targets(rows: list[dict]) -> list[str]:
    lines = []
    for prefix, prec, key, minimum, what in TARGETS:
        row = next((r for r in rows if r["name"].startswith(prefix) and r.get("precision") == prec
                    and key in r), None)
        if row:
            ok = row[key] >= minimum
            floor = (f" (its matmuls alone: {row['floor_frac_of_mm']:.3g}"
                     if key == "frac_of_mm" and "floor_frac_of_mm" in row else "")
            if floor and "bound_frac_of_mm" in row:
                floor += (f"; with eager PyTorch's {row['eager_ms']:.2f} ms per update: "
                          f"{row['bound_frac_of_mm']:.3g}")
            floor += ")" if floor else ""
            lines.append(f"{'MET ' if ok else 'MISS'} {what} [{prec}]: {row[key]:.3g}{floor}")

    def ratio(prefix, key):
        fp, bf = (next((r for r in rows if r["name"].startswith(prefix)
                        and r["precision"] == p and key in r), None) for p in ("fp32", "bf16"))
        return bf[key] / fp[key] if fp and bf else None

    for cheetah in (r for r in rows if r["name"].startswith("HalfCheetah")
                    and r.get("precision") != "fp32"):
        r = cheetah["env_steps_per_s"] / PEER_HALFCHEETAH_STEPS_PER_S
        lines.append(f"{'MET ' if r >= 1.8 else 'MISS'} full loop, HalfCheetah peer settings, "
                     f"{cheetah['precision']} >= 1.8x the peer's {PEER_HALFCHEETAH_STEPS_PER_S} "
                     f"env steps/s: {r:.2f}x")
    for prefix, key, minimum in (("SAC update 2x512", "updates_per_s", 1.5),
                                 ("SAC update 2x256", "updates_per_s", 1.5),
                                 ("rollout H=10", "transitions_per_s", 2.0)):
        r = ratio(prefix, key)
        if r is None:  # that section was not measured
            continue
        lines.append(f"{'MET ' if r >= minimum else 'MISS'} bf16 {prefix} >= {minimum}x fp32: {r:.2f}x")
    return lines


SECTIONS = ("sac", "rollouts", "model", "loop")


def subset(flag: str, value: str, allowed: object) -> list[str]:
    """A comma-separated flag's names, each checked against `allowed`."""
    names = value.split(",")
    unknown = set(names) - set(allowed)
    if unknown:
        raise SystemExit(f"{flag}: unknown {sorted(unknown)}; choose from {sorted(allowed)}")
    return names


def main() -> None:
    parser = script_parser(__doc__)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke check")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--malloc", choices=("tuned", "default"), default="tuned",
                        help="tuned: mbpo.allocator.keep_freed_memory(), as training does; "
                             "default: glibc's own settings, for a before/after")
    parser.add_argument("--sections", default="sac,rollouts,model,loop",
                        help="comma-separated subset of sac,rollouts,model,loop; rows of "
                             "other sections already in OUT_DIR/benchmark.json are kept")
    parser.add_argument("--fp32-matmul", choices=fp32_matmul.BACKENDS, default="mkl",
                        help="CPU backend of fp32 matmuls, as a run's fp32_matmul= "
                             "(onednn only where a probe shows it stays fp32)")
    parser.add_argument("--loop-precisions", default="fp32,bf16",
                        help="comma-separated subset of fp32,bf16: the loop section's runs")
    args = parser.parse_args()
    chosen = subset("--sections", args.sections, SECTIONS)  # before any work
    loop_labels = subset("--loop-precisions", args.loop_precisions, LOOP_PRECISIONS)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    backend, why = fp32_matmul.select(args.fp32_matmul)
    tuned = args.malloc == "tuned" and keep_freed_memory()
    torch.manual_seed(0)
    header = (f"{cpu_name()} | commit {code_commit()} | "
              f"torch {torch.__version__} | "
              f"threads {torch.get_num_threads()} | device {device} | "
              f"malloc {'tuned' if tuned else 'default'} | fp32 matmuls {backend}"
              f"{f' ({why})' if why else ''} | precision=auto here: "
              f"{resolve_precision('auto', device).describe()}")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    out_file = args.out_dir / "benchmark.json"

    def save(rows: list[dict], targets: list[str]) -> None:
        """Written after every section, so an interrupted benchmark keeps what it measured."""
        out_file.write_text(json.dumps({"machine": header, "date": time.strftime("%Y-%m-%d %H:%M"),
                                        "rows": rows, "targets": targets}, indent=2))

    peaks = {"fp32": mm_peak(device, torch.float32), "bf16": mm_peak(device, torch.bfloat16)}
    rows = [{"name": "torch.mm 2048^3", "precision": p, "gflops": g} for p, g in peaks.items()]
    print(header)
    for row in rows:
        print(fmt(row), flush=True)
    available = {
        "sac": [bench_sac], "rollouts": [bench_rollouts], "model": [bench_model_training],
        "loop": [lambda d, q, label=label: bench_loop(d, q, label)
                 for label in loop_labels],
    }
    if set(chosen) != set(available) and out_file.is_file():  # keep the other sections' rows
        kept = [r for r in json.loads(out_file.read_text())["rows"]
                if section_of(r["name"]) not in chosen and not r["name"].startswith("torch.mm")]
        rows += kept
    for section in (f for name in chosen for f in available[name]):
        new_rows = section(device, args.quick)
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
