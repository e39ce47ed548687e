"""Every stage sweeps the temporaries a killed stage left, even for outputs DVC later restored itself."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from faceattr.pipeline.stage import run_stage


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


def test_every_output_of_dvc_yaml_is_swept():
    """The sweep covers faceattr.config.paths.OUTPUTS: an output added to dvc.yaml but not there would keep its staging."""
    from helpers import dvc_yaml

    from faceattr.config.paths import OUTPUTS

    stages = dvc_yaml()["stages"]
    outs = {
        out if isinstance(out, str) else next(iter(out))
        for stage in stages.values()
        for kind in ("outs", "metrics", "plots")
        for out in stage.get(kind) or []
    }
    assert outs and outs <= {str(p) for p in OUTPUTS}


def test_dvc_yaml_takes_every_path_from_paths_yaml():
    """One source for the pipeline's paths: dvc.yaml names none of faceattr/config/paths.yaml's paths literally, and
    the stages' constants (faceattr.config.paths) are that file's values."""
    import re

    import yaml
    from helpers import REPO

    from faceattr.config import paths

    listed = yaml.safe_load((REPO / "faceattr/config/paths.yaml").read_text())["paths"]
    text = (REPO / "dvc.yaml").read_text()
    literal = [p for p in listed.values() if re.search(r"(?<![\w/.])" + re.escape(p) + r"(?![\w/.])", text)]
    assert not literal, f"dvc.yaml names these paths literally; write ${{paths.NAME}}: {literal}"
    assert set(re.findall(r"\$\{paths\.(\w+)\}", text)) <= set(listed)
    assert {getattr(paths, key.upper()) for key in listed} == {Path(p) for p in listed.values()}


def zombie() -> subprocess.Popen:
    """A child that has exited but is not reaped yet: what a SIGKILLed stage becomes where PID 1 reaps nothing
    (as in many containers): its pid still answers kill(pid, 0)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 30
    while Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
        assert time.monotonic() < deadline, "the child did not exit"
        time.sleep(0.01)
    return child


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_staging_of_a_killed_writer_left_as_a_zombie_is_swept(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    child = zombie()
    try:
        stale = tmp_path / "data/processed" / f".pixels.{child.pid}.k3j2abcd.tmp"
        stale.mkdir(parents=True)
        (stale / "pixels.npy").write_bytes(b"\0" * 4096)
        run_stage(lambda: None)
        assert not stale.exists()
    finally:
        child.wait()
