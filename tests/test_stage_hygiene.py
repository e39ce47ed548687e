"""Every stage sweeps the temporaries a killed stage left, even for outputs DVC later restored itself."""

from __future__ import annotations

import os
import subprocess
import sys

from faceattr.stage import run_stage


def test_a_stage_sweeps_stale_staging_left_by_a_killed_writer(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    processed = tmp_path / "data/processed"
    processed.mkdir(parents=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a pid that has ended, as a SIGKILLed preprocess's has
    stale = processed / f".pixels.{dead.pid}.k3j2.tmp"
    (stale / "sub").mkdir(parents=True)
    (stale / "pixels.npy").write_bytes(b"\0" * 4096)
    unnamed = processed / ".pixels.q81z.tmp"  # left by a version that did not record the pid
    unnamed.mkdir()
    stale_file = tmp_path / "models" / f".model.pt.{dead.pid}.x1.tmp"
    stale_file.parent.mkdir()
    stale_file.write_bytes(b"half")
    live = processed / f".labels.csv.{os.getpid()}.a1.tmp"  # a writer still running
    live.write_text("in progress")
    unrelated = processed / "notes.tmp"
    unrelated.write_text("mine")

    ran = []
    run_stage(lambda: ran.append(True))  # any stage: the sweep does not depend on which outputs it writes
    assert ran == [True]
    assert not stale.exists() and not unnamed.exists() and not stale_file.exists()
    assert live.exists() and unrelated.exists()
