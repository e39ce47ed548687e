"""Training checkpoints that resume exactly (`last.pt`, and `prev.pt` before it), and the workspace's
training lock, so two trainers never write the same checkpoints and outputs."""

from __future__ import annotations

import hashlib
import io
import os
import sys
import warnings
from pathlib import Path

import torch

from faceattr.atomic import atomic_path
from faceattr.errors import FaceattrError
from faceattr.model.model_file import load_weights_file

CHECKPOINT_FORMAT = "faceattr-checkpoint/1"


class Checkpoints:
    """`last.pt` (and the one before it, `prev.pt`) in a folder; a corrupt one falls back to the older."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.last = self.folder / "last.pt"
        self.prev = self.folder / "prev.pt"
        self.loaded_from: Path | None = None  # the file `load` resumed from
        self.abandoned_run_id: str | None = None  # the MLflow run of a checkpoint that was not resumed

    def save(self, state: dict) -> None:
        buffer = io.BytesIO()
        torch.save(state, buffer)
        payload = buffer.getvalue()
        blob = hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload
        if self.last.exists():
            self.last.replace(self.prev)
        with atomic_path(self.last) as tmp:
            tmp.write_bytes(blob)

    def load(self, expected_fingerprint: str) -> dict | None:
        for path in (self.last, self.prev):
            if not path.exists():
                continue
            blob = path.read_bytes()
            digest, _, payload = blob.partition(b"\n")
            if hashlib.sha256(payload).hexdigest().encode() != digest:
                warnings.warn(f"{path}: checkpoint is corrupt (checksum mismatch); ignoring it", stacklevel=2)
                continue
            try:  # tensors and plain types only: a crafted checkpoint must not run code when resumed
                state = load_weights_file(io.BytesIO(payload), str(path))
            except FaceattrError as exc:
                warnings.warn(f"checkpoint does not load as plain tensors: {exc}; ignoring it", stacklevel=2)
                continue
            if (
                not isinstance(state, dict)
                or state.get("format") != CHECKPOINT_FORMAT
                or state.get("fingerprint") != expected_fingerprint
            ):
                print(f"note: {path} belongs to other params or data; starting fresh", file=sys.stderr)
                if isinstance(state, dict) and isinstance(state.get("mlflow_run_id"), str):
                    self.abandoned_run_id = state["mlflow_run_id"]
                return None
            self.loaded_from = path
            return state
        return None

    def clear(self) -> None:
        for path in (self.last, self.prev):
            path.unlink(missing_ok=True)


LOCK_FILE = "train.lock"


def lock_checkpoints(folder: str | Path) -> int:
    """Hold the workspace's training lock (a flock on `folder`/train.lock); returns its file descriptor.

    Two trainers in one workspace would overwrite each other's checkpoints and outputs (e.g. a trainer
    left running after only `dvc` was killed, and the next `dvc repro`). The lock lasts as long as any
    process holding the descriptor lives (the launched workers inherit it) and ends with them, even
    on SIGKILL. A second trainer gets a one-line error naming the holder.
    """
    import fcntl

    path = Path(folder) / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 200).decode(errors="replace").strip() or "another process"
        os.close(fd)
        raise FaceattrError(
            f"{path}: another training is running in this workspace ({holder}); wait for it or stop "
            f"it (kill the pid), then run again"
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, f"pid {os.getpid()}".encode())
    return fd
