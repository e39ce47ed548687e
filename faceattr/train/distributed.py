"""Data-parallel training under torchrun: which process this is, and the few collective steps training needs.

`train.processes: N` makes the train stage start N copies of itself on this machine (`launch`, with
every socket on the loopback interface); `torchrun --nproc_per_node=N -m stages.train` does the same by
hand, and across machines. Each trains on its share of every global batch with
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
    return World(
        rank=int(os.environ["RANK"]),
        size=size,
        local_rank=int(os.environ.get("LOCAL_RANK", "0")),
        local_size=int(os.environ.get("LOCAL_WORLD_SIZE", str(size))),
    )


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


def _loopback_interface() -> str:
    """The loopback interface's name (lo on Linux, lo0 on macOS), for gloo and NCCL to keep to."""
    import socket

    names = [name for _, name in socket.if_nameindex()]
    return next((n for n in names if n in ("lo", "lo0")), next((n for n in names if n.startswith("lo")), "lo"))


LAUNCHED = "FACEATTR_LAUNCHED"  # set in the workers `launch` starts (the launcher holds the training lock)


def launch(processes: int, module: str, argv: Sequence[str] = (), pass_fds: Sequence[int] = ()) -> int:
    """Run `python -m module` as `processes` workers on this machine; returns their exit status.

    Not `torchrun --standalone`: its rendezvous store listens on every interface, unauthenticated, for
    the whole training. Here this process holds the workers' store on a socket it bound to 127.0.0.1,
    the workers join it as clients (TORCHELASTIC_USE_AGENT_STORE, as under torchrun's agent), and gloo
    and NCCL keep to the loopback interface, so nothing of the training is reachable from the network.
    When one worker fails, the others are stopped. (Several machines: run torchrun yourself, docs/performance-and-scale.md.)
    `pass_fds` are inherited by every worker (the training lock, held until the last one ends).
    """
    import datetime
    import signal
    import socket
    import time

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(4 * processes)
    port = listener.getsockname()[1]
    store = dist.TCPStore(
        "127.0.0.1",
        port,
        world_size=None,
        is_master=True,
        wait_for_workers=False,
        timeout=datetime.timedelta(minutes=30),
        master_listen_fd=listener.fileno(),
        use_libuv=False,
    )
    listener.detach()  # the store owns the socket now
    interface = _loopback_interface()
    command = [sys.executable, "-m", module, *argv]
    print(
        f"launching {processes} training processes on 127.0.0.1:{port}: {' '.join(command[1:])}",
        file=sys.stderr,
        flush=True,
    )
    workers = []
    for rank in range(processes):
        env = {
            **os.environ,
            "RANK": str(rank),
            "LOCAL_RANK": str(rank),
            "WORLD_SIZE": str(processes),
            "LOCAL_WORLD_SIZE": str(processes),
            "GROUP_RANK": "0",
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
            "TORCHELASTIC_USE_AGENT_STORE": "True",
            "TORCHELASTIC_RESTART_COUNT": "0",
            "GLOO_SOCKET_IFNAME": interface,
            "NCCL_SOCKET_IFNAME": interface,
            LAUNCHED: "1",
        }
        workers.append(subprocess.Popen(command, env=env, pass_fds=tuple(pass_fds)))
    status = 0
    try:
        while workers:
            for proc in list(workers):
                code = proc.poll()
                if code is None:
                    continue
                workers.remove(proc)
                if code != 0 and status == 0:
                    status = code
                    for other in workers:  # the rest would wait for it forever
                        other.send_signal(signal.SIGTERM)
            time.sleep(0.1)
    except KeyboardInterrupt:
        for proc in workers:
            proc.send_signal(signal.SIGINT)
        for proc in workers:
            proc.wait()
        raise
    finally:
        del store
    return status
