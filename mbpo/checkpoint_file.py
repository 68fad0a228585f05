"""The checkpoint file: written atomically, checked by a digest, loaded without running code.

Layout: one header line, `mbpo-checkpoint <format> sha256=<hex>\\n`, then a `torch.save`
payload. The digest covers every payload byte, so a truncated or bit-flipped file is
refused before anything in it is used. The payload holds only tensors, numbers, strings,
bytes and containers (numpy arrays are stored as bytes, dtype and shape), so it loads with
`torch.load(weights_only=True)`: a file crafted to run code when unpickled is refused by
torch's restricted unpickler instead (researchers share checkpoints).
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch

MAGIC = b"mbpo-checkpoint"
HEADER_LEN = len(MAGIC) + len(b" 000 sha256=") + 64 + 1
_CHUNK = 1 << 24


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used: unreadable, truncated, altered, or from another run."""


def write_atomic(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write a file so that a crash at any moment leaves either the old file or the new one
    whole: to `path.tmp`, fsynced, renamed over `path`, and the directory fsynced."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def to_safe(obj: Any) -> Any:
    """Containers of tensors and plain values, with numpy arrays and scalars made plain."""
    if isinstance(obj, dict):
        return {k: to_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_safe(v) for v in obj)
    if isinstance(obj, np.ndarray):
        return {"__ndarray__": np.ascontiguousarray(obj).tobytes(), "dtype": obj.dtype.str,
                "shape": list(obj.shape)}
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def from_safe(obj: Any) -> Any:
    """Inverse of `to_safe`."""
    if isinstance(obj, dict):
        if "__ndarray__" in obj:
            dtype = np.dtype(obj["dtype"])
            if dtype.hasobject:
                raise CheckpointError("checkpoint holds an object array, which this code never writes")
            return np.frombuffer(obj["__ndarray__"], dtype=dtype).reshape(obj["shape"]).copy()
        return {k: from_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(from_safe(v) for v in obj)
    return obj


def _header(format_version: int, digest: str) -> bytes:
    header = MAGIC + b" %03d sha256=%s\n" % (format_version, digest.encode())
    assert len(header) == HEADER_LEN
    return header


def _digest_from(f: IO[bytes]) -> str:
    h = hashlib.sha256()
    for chunk in iter(lambda: f.read(_CHUNK), b""):
        h.update(chunk)
    return h.hexdigest()


def save_checkpoint_file(state: dict[str, Any], path: Path, format_version: int) -> None:
    """Write `state` under a header carrying its digest, atomically."""

    def write(f: IO[bytes]) -> None:
        f.write(_header(format_version, "0" * 64))  # placeholder, same length
        torch.save(to_safe(state), f)
        f.flush()
        with open(f.name, "rb") as r:
            r.seek(HEADER_LEN)
            digest = _digest_from(r)
        f.seek(0)
        f.write(_header(format_version, digest))

    write_atomic(path, write)


class _Window(io.RawIOBase):
    """The payload part of an open checkpoint, seekable as a file of its own."""

    def __init__(self, f: IO[bytes], offset: int):
        self.f, self.offset = f, offset
        f.seek(offset)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, pos: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            pos += self.offset
        return self.f.seek(pos, whence) - self.offset

    def tell(self) -> int:
        return self.f.tell() - self.offset

    def readinto(self, buffer: Any) -> int:
        return self.f.readinto(buffer)


def load_checkpoint_file(path: Path) -> tuple[int, dict[str, Any]]:
    """(format version, state) of a checkpoint whose digest matches; CheckpointError
    (one line) for anything else."""
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        with open(path, "rb") as f:
            header = f.read(HEADER_LEN)
            if not header.startswith(MAGIC + b" "):
                raise CheckpointError(
                    f"{path} is not an mbpo checkpoint of this format (written by an older "
                    "version, or another program); it cannot be resumed")
            try:
                version = int(header[len(MAGIC) + 1: len(MAGIC) + 4])
                expected = header.split(b"sha256=", 1)[1].strip().decode("ascii")
            except (ValueError, IndexError, UnicodeDecodeError) as e:
                raise CheckpointError(f"{path} has a damaged header") from e
            if _digest_from(f) != expected:
                raise CheckpointError(f"{path} is damaged: its content does not match the "
                                      "checksum written with it (truncated or altered)")
            state = torch.load(_Window(f, HEADER_LEN), map_location="cpu", weights_only=True)
    except CheckpointError:
        raise
    except pickle.UnpicklingError as e:  # torch's restricted unpickler: anything but data
        raise CheckpointError(f"{path} could not be loaded safely: it holds objects other "
                              "than tensors, numbers and text (it may have been crafted to "
                              "run code), so it is not loaded") from e
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{path} could not be loaded safely ({first[:200]})") from e
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} does not hold a checkpoint")
    return version, from_safe(state)
