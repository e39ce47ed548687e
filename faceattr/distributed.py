"""Data-parallel training under torchrun: which process this is, and the few collective steps training needs.

`torchrun --nproc_per_node=N` (or `train.processes: N`, which makes the train stage start torchrun itself)
runs N copies of the train stage. Each trains on its share of every global batch with
DistributedDataParallel (NCCL on GPUs, gloo on CPUs); process 0 alone writes checkpoints, outputs and
the MLflow run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.distributed as dist

from faceattr.errors import FaceattrError


@dataclass(frozen=True)
class World:
    """This process's place among the training processes (a single process is rank 0 of 1)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    local_size: int = 1

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def share(self, batch: int) -> slice:
        """This process's contiguous share of a global batch of `batch` items."""
        per = batch // self.size
        return slice(self.rank * per, (self.rank + 1) * per)


def world() -> World:
    """Read torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE); 1 process without it."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    return World(rank=int(os.environ["RANK"]), size=size, local_rank=int(os.environ.get("LOCAL_RANK", "0")),
                 local_size=int(os.environ.get("LOCAL_WORLD_SIZE", str(size))))


def init(w: World, device: torch.device) -> None:
    """Join the process group (NCCL on CUDA, gloo otherwise); a no-op for a single process."""
    if w.distributed and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend, device_id=device if device.type == "cuda" else None)


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def mean(value: torch.Tensor, w: World) -> torch.Tensor:
    """The mean of a tensor over all processes (itself for one process)."""
    if not w.distributed:
        return value
    value = value.detach().clone()
    dist.all_reduce(value)
    return value / w.size


def broadcast_buffers(module: torch.nn.Module, w: World) -> None:
    """Give every process process 0's buffers (BatchNorm statistics drift apart over an epoch)."""
    if w.distributed:
        for buffer in module.buffers():
            dist.broadcast(buffer, 0)


def launch(processes: int, module: str, argv: Sequence[str] = ()) -> int:
    """Run `python -m module` as `processes` torchrun workers on this machine; returns their exit status."""
    if processes < 1:
        raise FaceattrError(f"train.processes: expected a whole number ≥ 1, got {processes}")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
               "-m", module, *argv]
    print(f"launching {processes} training processes: {' '.join(command[1:])}", file=sys.stderr, flush=True)
    return subprocess.run(command, check=False).returncode
