"""The train stage's own process launch: nothing listens beyond 127.0.0.1, and one trainer per workspace."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from helpers import REPO

from faceattr.errors import FaceattrError
from faceattr.train import distributed
from faceattr.train.checkpoints import lock_checkpoints

WORKER = """
import time, torch, torch.distributed as dist
dist.init_process_group("gloo")
t = torch.ones(1)
dist.all_reduce(t)
assert t.item() == 2
time.sleep(1.5)  # long enough for the test to see every socket
dist.destroy_process_group()
"""


def process_tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                todo += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                pass
    return pids


def listening_addresses(pids: list[int]) -> set[tuple[str, int]]:
    """(hex address, port) of every TCP socket in LISTEN state owned by these processes."""
    inodes = set()
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").glob("*"):
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:
                address, port = fields[1].split(":")
                found.add((address, int(port, 16)))
    return found


@pytest.mark.e2e  # two training processes, as torchrun would start them
@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux's /proc")
def test_launched_processes_listen_on_the_loopback_only(tmp_path, monkeypatch):
    (tmp_path / "ddp_worker.py").write_text(WORKER)
    monkeypatch.chdir(tmp_path)
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("rc", distributed.launch(2, "ddp_worker")))
    thread.start()
    seen: set[tuple[str, int]] = set()
    while thread.is_alive():
        seen |= listening_addresses(process_tree(os.getpid()))
        time.sleep(0.05)
    thread.join()
    assert result["rc"] == 0
    assert len(seen) >= 2, seen  # the store, and gloo's own listeners
    loopback = {"0100007F", "00000000000000000000000001000000", "0000000000000000FFFF00000100007F"}
    assert {address for address, _ in seen} <= loopback, f"listening beyond 127.0.0.1: {seen}"


def test_a_second_trainer_in_the_workspace_refuses_to_start(tmp_path):
    (tmp_path / "params.yaml").write_text((REPO / "params.yaml").read_text())
    held = lock_checkpoints(tmp_path / "models" / "checkpoints")  # a trainer already running here
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "stages.train"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        assert proc.returncode == 2
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and f"another training is running in this workspace (pid {os.getpid()})" in lines[0]
        assert sorted(p.name for p in (tmp_path / "models" / "checkpoints").iterdir()) == ["train.lock"]
        with pytest.raises(FaceattrError, match="another training is running"):
            lock_checkpoints(tmp_path / "models" / "checkpoints")
    finally:
        os.close(held)
    os.close(lock_checkpoints(tmp_path / "models" / "checkpoints"))  # free again once the holder is gone
