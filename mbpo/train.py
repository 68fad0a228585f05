"""Entry point: `python -m mbpo.train env=halfcheetah rollout=adaptive`.

`train(cfg, run_dir)` is a plain function (tests and Python users call it); `main` is the
thin Hydra wrapper that returns the run's `objective` to a sweeper. Run directories are
mbpo/run_dir.py's business, building mbpo/build.py's, the loop mbpo/loop.py's. Exit status: 0
done, 2 bad input (one line, before any work or write), 3 training collapsed, 128 + signal
number when SIGINT (130) or SIGTERM (143) stopped it (checkpointed; resume=true continues).
"""

from __future__ import annotations

if __name__ == "__main__":  # before anything imports mujoco
    from mbpo.mujoco_gl import exit_if_gl_broken

    exit_if_gl_broken()

import contextlib
import sys
from collections.abc import Sequence
from pathlib import Path

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from omegaconf import DictConfig, OmegaConf

from mbpo import fp32_matmul
from mbpo.allocator import keep_freed_memory
from mbpo.build import build, resolve_device, seed_everything, start_state
from mbpo.checkpoint import (
    CHECKPOINT_NAME,
    CheckpointError,
    capture_run,
    config_fingerprint,
    load_checked,
    restore_run,
    save_atomic,
)
from mbpo.config import CONF_DIR, register_configs, run_settings
from mbpo.hparams import run_hparams, sweep_of, write_hparams
from mbpo.logger import RunLogger
from mbpo.loop import LoopState, TrainingCollapsed, run_mbpo
from mbpo.precision import resolve_precision
from mbpo.run_dir import (
    RunDirInUse,
    check_run_dir,
    clear_run,
    finished_summary,
    hold_run_dir,
    record_config,
    remove_stale_tmp,
    resume_path,
    write_summary,
)
from mbpo.stop_signals import stop_on_signals, stop_requested_before

register_configs()

OBJECTIVE_KEYS = {"auc": "auc_return", "final": "final_return", "best": "best_return",
                  "last_k_mean": "last_k_mean_return"}
"""`objective` -> the summary field main() returns to a sweeper."""

__all__ = ["ConfigError", "RunStopped", "TrainingCollapsed", "build", "run_settings",
           "seed_everything", "start_state", "train"]


class ConfigError(ValueError):
    """Bad input (config value, env id, checkpoint, run dir), found before any work started."""


class RunStopped(RuntimeError):
    """SIGINT/SIGTERM stopped the run after it checkpointed; a sweep stops with it."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.signum = signum


def train(cfg: DictConfig, run_dir: Path, console: bool = True,
          overrides: Sequence[str] = (), hydra_cfg: DictConfig | None = None) -> dict[str, float]:
    """Run (or resume) one MBPO training job, logging to `run_dir`; returns its returns.

    Everything is validated and built before anything is written to `run_dir`, and no other
    process may hold the run dir meanwhile (`hold_run_dir`).
    """
    with contextlib.ExitStack() as held:
        return train_holding(held, cfg, run_dir, console, overrides, hydra_cfg)


def train_holding(held: contextlib.ExitStack, cfg: DictConfig, run_dir: Path, console: bool,
                  overrides: Sequence[str], hydra_cfg: DictConfig | None) -> dict[str, float]:
    """`train`, with `held` keeping the run dirs it locks until it returns."""
    fingerprint = config_fingerprint(cfg)
    try:
        guarded = held.enter_context(hold_run_dir(run_dir))
        if str(cfg.resume).lower() == "auto":
            done = finished_summary(run_dir, cfg.total_steps, fingerprint)
            if done is not None:  # a suite re-launched: this run has nothing left to do
                if console:
                    print(f"{run_dir}: finished earlier ({cfg.total_steps} steps), skipped")
                return done
        settings = run_settings(cfg)
        checkpoint = resume_path(cfg.resume, run_dir)
        device = resolve_device(cfg.device.value)
        precision = resolve_precision(cfg.precision.value, device, cfg.bf16_components)
        if cfg.threads > 0:
            torch.set_num_threads(cfg.threads)
        # CPU only; a CUDA run resets it, so runs sharing a process do not inherit it.
        matmul_backend, matmul_why = fp32_matmul.select(
            cfg.fp32_matmul.value if device.type == "cpu" else "mkl")
        allocator_tuned = keep_freed_memory()
        seed_everything(cfg.seed)
        components = build(cfg, device, settings, precision)
        state = start_state(components, cfg.seed)
        clear_first = check_run_dir(run_dir, checkpoint, cfg.resume, cfg.overwrite)
        precision_before = None  # what the checkpoint's run resolved precision to
        if checkpoint is not None:
            if checkpoint.parent.is_dir() and checkpoint.parent.resolve() != run_dir.resolve():
                held.enter_context(hold_run_dir(checkpoint.parent))
            saved = load_checked(checkpoint, fingerprint)
            if saved["loop"]["t"] > settings.total_steps:
                raise ValueError(f"total_steps={settings.total_steps} is below the "
                                 f"checkpoint's step {saved['loop']['t']}: a resume may "
                                 "extend a run, not shorten it")
            state = restore_run(components, saved)
            run_dir = checkpoint.parent  # continue in the run's own directory
            precision_before = saved["meta"].get("precision")
    except (ValueError, TypeError, InstantiationException, CheckpointError) as e:
        cause = e.__cause__ if isinstance(e, InstantiationException) and e.__cause__ else e
        raise ConfigError(str(cause).strip().splitlines()[0]) from e
    # Validated: from here on the run dir is written.
    if clear_first:
        clear_run(run_dir)
    remove_stale_tmp(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if checkpoint is None:
        record_config(run_dir, cfg, overrides, hydra_cfg)
    # On resume, drop events logged after the checkpoint: the curves continue without
    # duplicated steps (everything an iteration logs is at a step <= its env steps).
    log = RunLogger(run_dir, console=console, purge_step=state.t + 1 if checkpoint else None,
                    total_steps=settings.total_steps, start_step=state.t)
    if checkpoint is None:
        log.text("config", "```\n" + OmegaConf.to_yaml(cfg, resolve=True) + "\n```")
    log.line(f"run dir {run_dir} | device {device} | torch threads {torch.get_num_threads()}"
             f" | precision {precision.describe()}"
             f" | malloc {'tuned' if allocator_tuned else 'default'}"
             + (f" | fp32 CPU matmuls {matmul_backend}" + (f" ({matmul_why})" if matmul_why else "")
                if device.type == "cpu" else "")
             + (f" | resumed at step {state.t}" if checkpoint else "")
             + ("" if guarded else " | UNGUARDED: this filesystem cannot lock the run dir, so "
                "nothing stops a second process on this run")
             + (f" | precision before the resume: {precision_before}"
                if precision_before not in (None, precision.describe()) else ""))

    def save(loop_state: LoopState) -> None:
        save_atomic(capture_run(components, loop_state, fingerprint), run_dir / CHECKPOINT_NAME)

    try:
        with stop_on_signals(log) as stop:
            state = run_mbpo(components, settings, log, state, save, lambda: bool(stop[0]))
        summary = state.summary()
        if state.t >= settings.total_steps:
            write_summary(run_dir, settings.total_steps, fingerprint, summary)
        sweep_dir, sweep_overrides = sweep_of(hydra_cfg)
        write_hparams(log.writer, run_hparams(cfg, overrides), sweep_dir, sweep_overrides)
        if stop[0] and state.t < settings.total_steps:
            raise RunStopped(f"stopped at step {state.t} with a checkpoint in {run_dir}; "
                             "resume=true continues it (resume=auto for a sweep)", stop[0])
    except TrainingCollapsed as e:
        log.line(f"error: training collapsed at step {state.t}: {e}", console=False)
        raise
    finally:
        log.close()
        components.env.close()
        components.eval_env.close()
    return summary


@hydra.main(version_base=None, config_path=str(CONF_DIR), config_name="config")
def main(cfg: DictConfig) -> float:
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    try:
        if signum := stop_requested_before():  # a launcher's worker whose sweep was stopped
            raise RunStopped(f"not started ({run_dir}): this process was told to stop", signum)
        result = train(cfg, run_dir, overrides=list(hydra_cfg.overrides.task),
                       hydra_cfg=hydra_cfg)
    except ConfigError as e:  # bad input: one clear line, nothing written
        if not isinstance(e.__cause__, RunDirInUse):  # (that one is another run's to keep)
            with contextlib.suppress(OSError):
                run_dir.rmdir()  # the empty directory Hydra made for this run, if it is empty
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except TrainingCollapsed as e:
        print(f"error: training collapsed: {e}; the last good checkpoint is kept", file=sys.stderr)
        sys.exit(3)
    except RunStopped as e:  # a sweep stops here too: no further job starts
        with contextlib.suppress(OSError):
            run_dir.rmdir()  # empty: a job of a stopped sweep that never started
        print(str(e), file=sys.stderr)
        sys.exit(128 + e.signum)
    return result[OBJECTIVE_KEYS[cfg.objective.value]]


if __name__ == "__main__":
    from mbpo.cli import preflight

    preflight(sys.argv[1:])
    main()
