"""Entry point: `python -m mbpo.train env=halfcheetah rollout=adaptive`.

`train(cfg, run_dir)` is a plain function (tests call it in-process); `main` is the thin
Hydra wrapper that returns the final eval return for sweeps to optimise. Exit status: 0
done, 2 bad input (one line, before any work or write), 3 training collapsed, 128 + signal
number when SIGINT (130) or SIGTERM (143) stopped it (checkpointed; resume=true continues).
"""

from __future__ import annotations

if __name__ == "__main__":  # before anything imports mujoco
    from mbpo.mujoco_gl import exit_if_gl_broken

    exit_if_gl_broken()

import contextlib
import signal
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.types import RunMode
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
from mbpo.hparams import run_hparams, write_hparams
from mbpo.logger import RunLogger
from mbpo.loop import LoopState, TrainingCollapsed, run_mbpo
from mbpo.precision import resolve_precision
from mbpo.run_dir import (
    clear_run,
    holds_run,
    read_summary,
    record_config,
    remove_stale_tmp,
    write_summary,
)

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


def resume_path(resume: str | None, run_dir: Path) -> Path | None:
    """resume=true: this run dir's checkpoint; resume=auto: that checkpoint if there is one
    (a suite re-launched after an interruption), else a fresh start; resume=PATH: a run dir or
    a checkpoint file."""
    if resume is None or str(resume).lower() in ("false", "none", ""):
        return None
    if str(resume).lower() == "auto":
        return run_dir / CHECKPOINT_NAME if (run_dir / CHECKPOINT_NAME).is_file() else None
    if str(resume).lower() == "true":
        return run_dir / CHECKPOINT_NAME
    path = Path(resume)
    return path / CHECKPOINT_NAME if path.is_dir() else path


@contextlib.contextmanager
def stop_on_signals(log: RunLogger) -> Iterator[list[int]]:
    """SIGINT/SIGTERM ask the loop to checkpoint and stop; a second SIGINT interrupts."""
    requested = [0]  # the signal that asked, 0 while none has

    def handler(signum: int, _frame: object) -> None:
        requested[0] = signum
        log.line(f"received {signal.Signals(signum).name}: checkpointing and stopping")
        signal.signal(signum, signal.default_int_handler if signum == signal.SIGINT
                      else signal.SIG_DFL)

    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError):  # not the main thread: leave signals alone
            previous[sig] = signal.signal(sig, handler)
    try:
        yield requested
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def sweep_of(hydra_cfg: DictConfig | None) -> tuple[Path | None, list[str]]:
    """In a multirun: the sweep's directory and its overrides as launched (sweep syntax)."""
    if hydra_cfg is None or hydra_cfg.mode != RunMode.MULTIRUN:
        return None, []
    sweep_dir = Path(hydra_cfg.sweep.dir)
    launched = sweep_dir / "multirun.yaml"
    overrides = (list(OmegaConf.load(launched).hydra.overrides.task) if launched.is_file()
                 else list(hydra_cfg.overrides.task))
    return sweep_dir, overrides


def finished_summary(run_dir: Path, total_steps: int, fingerprint: str) -> dict[str, float] | None:
    """The summary a run wrote when it reached `total_steps`, or None if it has not.

    A finished run of another config in the same directory is an error, not a skip: the
    results on disk would otherwise be reported under settings they were not run with.
    """
    done = read_summary(run_dir)
    if done is None:
        return None
    if done.get("config", fingerprint) != fingerprint:
        raise ConfigError(f"{run_dir} holds a finished run of another config (config hash "
                          f"{done['config']}, this one {fingerprint}); use another run dir")
    return done["summary"] if done.get("total_steps") == total_steps else None


def check_run_dir(run_dir: Path, checkpoint: Path | None, resume: str | None,
                  overwrite: bool) -> bool:
    """Whether a fresh run must first clear the run dir; refuses to write over a run."""
    if checkpoint is not None or not holds_run(run_dir):
        return False
    if overwrite or str(resume).lower() == "auto":  # auto: a partial run, no checkpoint yet
        return True
    raise ConfigError(f"{run_dir} already holds a run; continue it with resume=true, or give "
                      "this run another directory (hydra.run.dir=...); overwrite=true "
                      "replaces it")


def train(cfg: DictConfig, run_dir: Path, console: bool = True,
          overrides: Sequence[str] = (), hydra_cfg: DictConfig | None = None) -> dict[str, float]:
    """Run (or resume) one MBPO training job, logging to `run_dir`; returns its returns.

    Everything is validated and built before anything is written to `run_dir`.
    """
    fingerprint = config_fingerprint(cfg)
    if str(cfg.resume).lower() == "auto":
        done = finished_summary(run_dir, cfg.total_steps, fingerprint)
        if done is not None:  # a suite re-launched: this run has nothing left to do
            if console:
                print(f"{run_dir}: finished earlier ({cfg.total_steps} steps), skipped")
            return done
    try:
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
            saved = load_checked(checkpoint, fingerprint)
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
        write_hparams(log.writer, run_hparams(cfg, overrides), summary, state.t, sweep_dir,
                      sweep_overrides)
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
        result = train(cfg, run_dir, overrides=list(hydra_cfg.overrides.task),
                       hydra_cfg=hydra_cfg)
    except ConfigError as e:  # bad input: one clear line, nothing written
        with contextlib.suppress(OSError):
            run_dir.rmdir()  # the empty directory Hydra made for this run, if it is empty
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except TrainingCollapsed as e:
        print(f"error: training collapsed: {e}; the last good checkpoint is kept", file=sys.stderr)
        sys.exit(3)
    except RunStopped as e:  # a sweep stops here too: no further job starts
        print(str(e), file=sys.stderr)
        sys.exit(128 + e.signum)
    return result[OBJECTIVE_KEYS[cfg.objective.value]]


if __name__ == "__main__":
    from mbpo.cli import preflight

    preflight(sys.argv[1:])
    main()
