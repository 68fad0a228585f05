"""The benchmark's component sections at MBPO's Hopper sizes: model rollouts (and the
straightforward per-state way, for the speedup), model training (and fits to early stop),
SAC updates. Each rate row is GFLOP/s against torch.mm and its own matmul floor; each
section runs in the `precisions` it is given (fp32, bf16)."""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence

import numpy as np
import torch
from bench_timing import against_mm, count_flops, sync, timed, with_floor
from matmul_floor import matmul_floor_seconds
from torch import nn

from mbpo.buffer import Batch, TransitionBuffer
from mbpo.ensemble import GaussianEnsemble
from mbpo.envs import make_env, never_rule
from mbpo.model_training import EnsembleTrainer
from mbpo.rollout import first_step, model_step, rollout_model
from mbpo.sac import SAC
from mbpo.schedules import RolloutPlan

OBS, ACT = 11, 3  # Hopper-v5


def bench_rollouts(device: torch.device, quick: bool, precisions: Sequence[str]) -> list[dict]:
    """A whole rollout phase: the first step of every start state, then H - 1 more."""
    n_start, chunk = (20_000 if quick else 100_000), 2048
    model = GaussianEnsemble(OBS, ACT, row_padding=True).to(device)  # 7 members, 4x200
    agent = SAC(OBS, ACT, np.full(ACT, -1.0), np.full(ACT, 1.0), device=device)
    start = torch.randn(n_start, OBS, device=device)
    rows = []
    for horizon in (1, 10):
        buffer = TransitionBuffer(OBS, ACT, n_start * horizon, device)
        plan = RolloutPlan(horizon)
        for bf16 in (p == "bf16" for p in precisions):
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
    if "fp32" not in precisions:  # the straightforward way is compared with batched fp32
        return rows
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


def bench_model_training(device: torch.device, quick: bool,
                         precisions: Sequence[str]) -> list[dict]:
    data = [t.to(device) for t in hopper_data(10_000 if quick else 50_000)]
    rows = []
    for bf16 in (p == "bf16" for p in precisions):
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
        for bf16 in (p == "bf16" for p in precisions):
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


def bench_sac(device: torch.device, quick: bool, precisions: Sequence[str]) -> list[dict]:
    rows = []
    batch = sac_batch(256, device)
    for hidden in (256, 512):
        for bf16 in (p == "bf16" for p in precisions):
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
