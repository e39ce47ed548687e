"""Fault injection with real subprocesses and signals: SIGKILL mid-stage, a full disk, bad params."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from helpers import BIN, REPO, TINY, make_clone, run

STAGE_OUTS = ("synth", "unzip", "clean_labels", "partition", "preprocess", "train", "evaluate")


def outs_of(lock_text: str) -> dict[str, list]:
    lock = yaml.safe_load(lock_text)["stages"]
    return {stage: sorted((o["path"], o.get("md5")) for o in lock[stage]["outs"]) for stage in STAGE_OUTS}


@pytest.fixture(scope="module")
def reference_lock(repo) -> str:
    """dvc.lock of an uninterrupted run on the same params (the shared baseline clone's HEAD)."""
    return run(["git", "show", "HEAD:dvc.lock"], repo).stdout


def kill_repro_when(clone: Path, ready, timeout: float = 300) -> str:
    """Start `dvc repro`, SIGKILL its whole process group once ready(clone, output) is true."""
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "DVC_NO_ANALYTICS": "1",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("MLFLOW_TRACKING_URI", None)
    log = clone / "repro.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            ["dvc", "repro"], cwd=clone, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if ready(clone, log.read_text()):
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                    return log.read_text()
                if proc.poll() is not None:
                    raise AssertionError(f"dvc repro ended before the fault was injected:\n{log.read_text()}")
                time.sleep(0.01)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    raise AssertionError("timed out waiting for the stage to start")


@pytest.mark.e2e  # dvc repro, SIGKILLed three times, then to the end
def test_sigkill_during_unzip_clean_labels_and_train_then_repro_completes(tmp_path, reference_lock):
    clone = make_clone(tmp_path, TINY)

    def unzip_staging(c: Path, _out: str) -> bool:
        return any((c / "data/interim").glob(".img_align_celeba.*.tmp/*.jpg"))

    def clean_labels_started(_c: Path, out: str) -> bool:
        return "Running stage 'clean_labels'" in out

    def train_checkpointed(c: Path, _out: str) -> bool:
        return (c / "models/checkpoints/last.pt").exists()

    kill_repro_when(clone, unzip_staging)
    assert not (clone / "data/interim/img_align_celeba").exists()  # no half-extracted folder in place
    kill_repro_when(clone, clean_labels_started)
    out = kill_repro_when(clone, train_checkpointed)
    assert "epoch 1/2" in out
    assert not (clone / "models/model.pt").exists()

    final = run(["dvc", "repro"], clone)
    assert "resuming from models/checkpoints/last.pt after epoch 1" in final.stderr + final.stdout
    assert "continuing MLflow run" in final.stderr + final.stdout
    runs = mlflow_runs(clone)
    assert [r.info.status for r in runs] == ["FINISHED"]  # the killed training's run was resumed, not left RUNNING
    history = mlflow_client(clone).get_metric_history(runs[0].info.run_id, "val_loss")
    assert sorted(m.step for m in history) == [1, 2]  # epoch 1 from before the SIGKILL, epoch 2 after
    assert outs_of((clone / "dvc.lock").read_text()) == outs_of(reference_lock)
    assert not (clone / "models/checkpoints/last.pt").exists()
    leftovers = [p for p in clone.rglob("*.tmp") if ".dvc" not in p.parts]
    assert leftovers == []


def mlflow_client(clone: Path):
    import mlflow

    return mlflow.MlflowClient(tracking_uri=f"sqlite:///{clone / 'mlflow.db'}")


def mlflow_runs(clone: Path) -> list:
    client = mlflow_client(clone)
    experiment = client.get_experiment_by_name("faceattr")
    return client.search_runs([experiment.experiment_id])


def snapshot(repo: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(repo)): p.read_bytes()
        for top in ("data", "models", "metrics", "plots")
        for p in sorted((repo / top).rglob("*"))
        if p.is_file()
    }


@pytest.mark.e2e  # dvc exp run, on the session `repo`
def test_bad_param_stops_before_any_output_changes(repo):
    """`dvc exp run -S alpha=-1` fails in check_params, before DVC removes any stage's outputs."""
    before = snapshot(repo)
    proc = run(["dvc", "exp", "run", "-S", "alpha=-1"], repo, check=False)
    assert proc.returncode != 0
    assert "params.yaml: alpha = -1 is not allowed; expected a number > 0" in proc.stderr + proc.stdout
    assert snapshot(repo) == before
    run(["git", "checkout", "-q", "--", "params.yaml"], repo)


def test_full_disk_fails_clearly_and_leaves_nothing_half_written(tmp_path, monkeypatch, capsys):
    """The writer fails with ENOSPC half-way: the stage exits 28 with a clear message, and the previous
    labels.csv is still there, whole; no temporary file is left."""
    from faceattr import atomic
    from faceattr.data.archive import extract_images
    from faceattr.data.synth import generate_dataset
    from stages import clean_labels

    monkeypatch.chdir(tmp_path)
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    generate_dataset(tmp_path / "data/raw/synthetic", count=12, seed=1, workers=1)
    report = extract_images(
        tmp_path / "data/raw/synthetic/img_align_celeba.zip", tmp_path / "data/interim/img_align_celeba", 2**30
    )
    (tmp_path / "data/interim/unzip_report.json").write_text(json.dumps(report))
    clean_labels.main()
    before = (tmp_path / "data/processed/labels.csv").read_bytes()

    def full_disk(fd):
        raise OSError(errno.ENOSPC, "No space left on device", "data/processed/labels.csv")

    monkeypatch.setattr(atomic.os, "fsync", full_disk)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({**params, "labels": {"attributes": ["Male"]}}))
    with pytest.raises(SystemExit) as exit_info:
        from faceattr.pipeline.stage import run_stage

        run_stage(clean_labels.main)
    assert exit_info.value.code == 28
    err = capsys.readouterr().err
    assert "no space left on the device while writing data/processed/labels.csv" in err
    assert "DVC removed this stage's earlier outputs" in err and "dvc checkout" in err  # no promise DVC breaks
    assert (tmp_path / "data/processed/labels.csv").read_bytes() == before
    assert not list((tmp_path / "data/processed").glob(".*.tmp"))
