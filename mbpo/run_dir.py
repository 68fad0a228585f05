"""A run directory: what marks it as holding a run, and the files a run writes beside its
events and checkpoint (recorded config, summary).

Nothing here is written before the command was validated, so a refused command leaves a
directory as it found it, and a new run never writes over a run that is already there.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from omegaconf import DictConfig, OmegaConf

from mbpo.checkpoint import CHECKPOINT_NAME
from mbpo.checkpoint_file import write_atomic

SUMMARY_NAME = "summary.json"
"""Written when a run reaches total_steps: a re-launched suite (resume=auto) skips it."""
RECORD_DIR = ".hydra"
"""Where the run's config is recorded, as Hydra does: config.yaml, overrides.yaml, hydra.yaml."""
LOG_NAME = "train.log"


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
    return json.loads(path.read_text()) if path.is_file() else None
