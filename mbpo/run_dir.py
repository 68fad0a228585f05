"""A run directory: what marks it as holding a run, the files a run writes beside its
events and checkpoint (recorded config, summary), and the decisions a command takes about
it (which checkpoint `resume` means, whether a finished run is skipped, whether a new run
may clear it).

Nothing here is written before the command was validated, so a refused command leaves a
directory as it found it, and a new run never writes over a run that is already there.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import shutil
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from omegaconf import DictConfig, OmegaConf

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

from mbpo.checkpoint import CHECKPOINT_NAME
from mbpo.checkpoint_file import write_atomic

SUMMARY_NAME = "summary.json"
"""Written when a run reaches total_steps: a re-launched suite (resume=auto) skips it."""
RECORD_DIR = ".hydra"
"""Where the run's config is recorded, as Hydra does: config.yaml, overrides.yaml, hydra.yaml."""
LOG_NAME = "train.log"


class RunDirError(ValueError):
    """A run directory a command must not use as asked (it holds another run)."""


class RunDirInUse(RunDirError):
    """Another live process holds the run directory: nothing of it may be touched."""


LOCK_TRIES = 5
"""Non-blocking lock attempts 50 ms apart: a `run_dir_in_use` probe holds its shared lock
for microseconds, and must not make a run that starts at that moment look refused."""


def try_lock(fd: int, how: int) -> bool | None:
    """flock(fd, how | LOCK_NB): True when taken, False when another holds it, None when the
    filesystem cannot lock at all (some network mounts)."""
    try:
        fcntl.flock(fd, how | fcntl.LOCK_NB)
    except OSError as e:
        if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        return None
    return True


@contextlib.contextmanager
def hold_run_dir(run_dir: Path) -> Iterator[bool]:
    """One process per run dir: two processes on one run (a sweep left running by a killed
    parent, a resume typed twice) would write over each other's checkpoint and events.

    An exclusive flock on the directory itself, so no lock file is ever left behind: the
    kernel drops it when the process ends, however it ends (SIGKILL included). Directories
    made here only to be locked are removed again at the end while still empty (a refused
    command, a resume that ran elsewhere); a directory another process holds is never
    touched. Yields whether the lock holds: False where the filesystem cannot lock (some
    cluster mounts) or on Windows, where the run goes on unguarded and says so.
    """
    made = [d for d in (run_dir, *run_dir.parents) if not d.exists()]  # leaf first
    guarded = fcntl is not None
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(run_dir, os.O_RDONLY) if fcntl is not None else None  # (Windows: none)
    except OSError as e:
        raise RunDirError(f"{run_dir} cannot be a run directory: {e.strerror}") from e
    try:
        for attempt in range(LOCK_TRIES if fd is not None else 0):
            taken = try_lock(fd, fcntl.LOCK_EX)
            if taken is None:  # the run goes on; its log line says it is unguarded
                guarded = False
                break
            if taken:
                break
            if attempt == LOCK_TRIES - 1:
                made.clear()  # it is another process's run: leave it exactly as it is
                raise RunDirInUse(f"{run_dir} is in use by another running process; stop "
                                  "that run first (a stopped run continues with "
                                  "resume=true), or give this one another directory")
            time.sleep(0.05)
        yield guarded
    finally:
        if fd is not None:
            os.close(fd)
        with contextlib.suppress(OSError):  # only while empty
            for d in made:
                d.rmdir()


def run_dir_in_use(run_dir: Path) -> bool:
    """Whether a live process holds `run_dir` (`hold_run_dir`), e.g. a run still writing its
    checkpoint after a stop was asked for."""
    if fcntl is None:
        return False
    try:
        fd = os.open(run_dir, os.O_RDONLY)
    except OSError:  # gone, or not a directory: nobody holds it
        return False
    try:
        return try_lock(fd, fcntl.LOCK_SH) is False  # (None: cannot tell; assume free)
    finally:
        os.close(fd)  # (closing drops the shared lock taken to ask)


def run_files(run_dir: Path) -> list[Path]:
    """The files of a run in `run_dir` (empty when it holds none)."""
    if not run_dir.is_dir():
        return []
    names = [CHECKPOINT_NAME, SUMMARY_NAME, RECORD_DIR, LOG_NAME]
    return [run_dir / n for n in names if (run_dir / n).exists()] + sorted(
        run_dir.glob("events.out.tfevents.*"))


def holds_run(run_dir: Path) -> bool:
    """Events, a checkpoint or a summary: a run (an empty train.log or record is not)."""
    return any(p.name != LOG_NAME and p.name != RECORD_DIR for p in run_files(run_dir))


def clear_run(run_dir: Path) -> None:
    """Remove a run's files (on `overwrite=true`, or a partial run that has no checkpoint
    to continue from under resume=auto) and a stale half-written checkpoint."""
    for path in run_files(run_dir):
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    remove_stale_tmp(run_dir)


def remove_stale_tmp(run_dir: Path) -> None:
    """A checkpoint.pt.tmp is what a crash mid-write leaves; the checkpoint itself is whole."""
    (run_dir / (CHECKPOINT_NAME + ".tmp")).unlink(missing_ok=True)


def record_config(run_dir: Path, cfg: DictConfig, overrides: Sequence[str],
                  hydra_cfg: DictConfig | None = None) -> None:
    """The run's config as Hydra records it, so every tool reads a run started from Python
    like one started from the command line."""
    record = run_dir / RECORD_DIR
    record.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(cfg, record / "config.yaml")
    OmegaConf.save(OmegaConf.create(list(overrides)), record / "overrides.yaml")
    if hydra_cfg is not None:
        OmegaConf.save(OmegaConf.create({"hydra": hydra_cfg}), record / "hydra.yaml")


def strict_json(values: Any) -> Any:
    """NaN and +-inf as null: JSON has no such numbers (json.dumps would write NaN)."""
    if isinstance(values, Mapping):
        return {k: strict_json(v) for k, v in values.items()}
    if isinstance(values, float) and not math.isfinite(values):
        return None
    return values


def write_summary(run_dir: Path, total_steps: int, fingerprint: str,
                  summary: Mapping[str, float]) -> None:
    text = json.dumps({"total_steps": total_steps, "config": fingerprint,
                       "summary": strict_json(summary)}, indent=1, allow_nan=False)

    def write(f: IO[bytes]) -> None:
        f.write(text.encode())

    write_atomic(run_dir / SUMMARY_NAME, write)


def read_summary(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / SUMMARY_NAME
    if not path.is_file():
        return None
    try:
        done = json.loads(path.read_text())
        if not isinstance(done, dict) or not isinstance(done.get("summary"), dict):
            raise ValueError("no summary object")
    except ValueError as e:  # a damaged or hand-edited file: say which
        raise RunDirError(f"{path} is not a summary mbpo wrote ({e}); move it away to "
                          "re-run or continue this run") from e
    return done


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


def finished_summary(run_dir: Path, total_steps: int, fingerprint: str) -> dict[str, float] | None:
    """The summary a run wrote when it reached `total_steps`, or None if it has not.

    A finished run of another config in the same directory is an error, not a skip: the
    results on disk would otherwise be reported under settings they were not run with.
    """
    done = read_summary(run_dir)
    if done is None:
        return None
    if done.get("config", fingerprint) != fingerprint:
        raise RunDirError(f"{run_dir} holds a finished run of another config (config hash "
                          f"{done['config']}, this one {fingerprint}); use another run dir")
    return done["summary"] if done.get("total_steps") == total_steps else None


def check_run_dir(run_dir: Path, checkpoint: Path | None, resume: str | None,
                  overwrite: bool) -> bool:
    """Whether a fresh run must first clear the run dir; refuses to write over a run."""
    if checkpoint is not None or not holds_run(run_dir):
        return False
    if overwrite or str(resume).lower() == "auto":  # auto: a partial run, no checkpoint yet
        return True
    raise RunDirError(f"{run_dir} already holds a run; continue it with resume=true, or give "
                      "this run another directory (hydra.run.dir=...); overwrite=true "
                      "replaces it")
