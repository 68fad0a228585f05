"""What a measurement ran and where: the git commit of the checkout `mbpo` is imported from,
the CPU and the machine; `written_at` and `own_command` put them, with the date and the
exact command, at the head of every committed record (suite reports, comparisons).

A benchmark is often run from a second worktree (so that editing the main one cannot touch
it), and a report written from another directory; the cwd's commit would name the wrong
code in both cases. The CPU's brand string alone ("AMD EPYC") hides its generation, which
doubles or halves bf16 matmuls between two otherwise alike VMs.
"""

from __future__ import annotations

import datetime
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path

import mbpo

CODE_PATHS = ("mbpo", "conf", "scripts", "pyproject.toml")
"""What a run or benchmark executes: an edit elsewhere (docs, results, tests) changes no
figure, so it does not mark the commit dirty."""


def code_commit() -> str:
    """Short commit of the checkout holding the imported `mbpo`, with `+dirty` when its
    tracked code (CODE_PATHS) differs from that commit; `unknown` outside git."""
    root = Path(mbpo.__file__).resolve().parents[1]

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True,
                              text=True, check=True).stdout.strip()

    try:
        commit = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no", "--", *CODE_PATHS)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


NAMED_FLAGS = ("avx512f", "avx512_bf16", "amx_bf16")
"""The instruction sets that decide which matmul kernels run (fp32 AVX-512, bf16)."""


def cpu_name(cpuinfo: str | None = None, cache_dir: Path | None = None) -> str:
    """E.g. `AMD EPYC (family 26 model 2 stepping 1; avx512f avx512_bf16; L2 1024K, L3
    32768K)`, from /proc/cpuinfo and sysfs; the platform's name where those are missing."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            cpuinfo = ""
    first = cpuinfo.split("\n\n", 1)[0]  # one processor's block
    fields = dict(line.split(":", 1) for line in first.splitlines() if ":" in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    if "model name" not in fields:
        return platform.processor() or platform.machine()
    ids = " ".join(f"{key.replace('cpu ', '')} {fields[key]}"
                   for key in ("cpu family", "model", "stepping") if key in fields)
    flags = set(fields.get("flags", "").split())
    parts = [ids, " ".join(f for f in NAMED_FLAGS if f in flags) or "no avx512f"]
    caches = cache_sizes(cache_dir or Path("/sys/devices/system/cpu/cpu0/cache"))
    if caches:
        parts.append(caches)
    return f"{fields['model name']} ({'; '.join(p for p in parts if p)})"


def cache_sizes(cache_dir: Path) -> str:
    """`L2 1024K, L3 32768K` for the first CPU (per core for L2; L3 as the VM sees it)."""
    sizes = {}
    for index in sorted(cache_dir.glob("index*")):
        try:
            level = (index / "level").read_text().strip()
            size = (index / "size").read_text().strip()
        except OSError:
            continue
        if level in ("2", "3"):
            sizes[level] = size
    return ", ".join(f"L{level} {size}" for level, size in sorted(sizes.items()))


def machine() -> str:
    """`host (CPU, N cores, torch X)`: the cores this process may use, not the host's."""
    import torch  # (here: the commit and CPU helpers stay usable without it)

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{platform.node()} ({cpu_name()}, {cores} cores, torch {torch.__version__})"


def written_at() -> str:
    """`2026-12-06T17:40 at git commit abc1234 on host (...)`: when a record was written, by
    which code and where."""
    now = datetime.datetime.now().isoformat(timespec="minutes")
    return f"{now} at git commit {code_commit()} on {machine()}"


def own_command() -> str:
    """`python scripts/x.py ARGS`: this process's command line, quoted to paste back into a
    shell (the interpreter's path, which differs between machines, left out)."""
    return f"python {shlex.join(sys.argv)}"
