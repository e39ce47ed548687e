"""End to end: the real `dvc repro`, `dvc exp run` and MLflow store in a temporary git clone, on a tiny
synthetic config (a few dozen images, 32×32 input, two epochs)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO

BIN = Path(sys.executable).parent
TINY = {
    "alpha": 1.0,
    "subset": 60,
    "synth": {"count": 60},
    "partition": {"sizes": [30, 60]},
    "train": {"image_size": [32, 32], "epochs": 2, "batch_size": 16},
}


def run(args: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1"}
    env.pop("MLFLOW_TRACKING_URI", None)
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for k, v in override.items():
        out[k] = merge(base[k], v) if isinstance(v, dict) else v
    return out


def make_clone(dest: Path, overrides: dict) -> Path:
    """Copy the working tree (tracked and untracked-but-not-ignored files) into a fresh git repo."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=REPO, capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        src = REPO / rel
        if src.is_file() and not rel.startswith(("dvc.lock", "metrics/", "plots/")):
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    params = yaml.safe_load((dest / "params.yaml").read_text())
    (dest / "params.yaml").write_text(yaml.safe_dump(merge(params, overrides), sort_keys=False))
    run(["git", "init", "-q", "-b", "main"], dest)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "add", "-A"], dest)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init"], dest)
    run(["git", "config", "user.name", "faceattr test"], dest)
    run(["git", "config", "user.email", "test@faceattr.invalid"], dest)
    return dest


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    clone = make_clone(tmp_path_factory.mktemp("pipeline"), TINY)
    run(["dvc", "repro"], clone)
    run(["git", "add", "-A"], clone)
    run(["git", "commit", "-qm", "baseline"], clone)
    return clone


def mlflow_runs(repo: Path):
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{repo / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("faceattr")
    assert experiment is not None, "no MLflow experiment 'faceattr' at the repo root"
    return client, client.search_runs([experiment.experiment_id])


def test_repro_writes_every_output(repo):
    for rel in ["data/raw/synthetic/img_align_celeba.zip", "data/interim/unzip_report.json",
                "data/processed/labels.csv", "data/processed/partitions/list_partition_30.txt",
                "data/processed/partitions/list_partition_60.txt", "models/model.pt", "metrics/train.json",
                "metrics/eval.json", "plots/train_history.csv", "plots/predictions.csv",
                "plots/training_curves.png", "plots/per_attribute_accuracy.png", "plots/roc_curves.png",
                "plots/label_distribution.png", "plots/synthetic_samples.png"]:
        assert (repo / rel).is_file(), rel
    assert len(list((repo / "data/interim/img_align_celeba").iterdir())) == 60
    report = json.loads((repo / "data/processed/label_report.json").read_text())
    assert report["rows_kept"] == 60 and report["rows_malformed"] == 0
    metrics = json.loads((repo / "metrics/eval.json").read_text())
    assert set(metrics["per_attribute"]) == set(yaml.safe_load((repo / "params.yaml").read_text())["labels"]["attributes"])
    assert 0 <= metrics["mean_accuracy"] <= 1
    assert len((repo / "plots/train_history.csv").read_text().splitlines()) == 3  # header + 2 epochs


def test_second_repro_is_a_noop_and_status_clean(repo):
    out = run(["dvc", "repro"], repo).stdout
    assert "Running stage" not in out
    status = run(["dvc", "status"], repo).stdout
    assert "up to date" in status


def test_forced_repro_is_byte_identical(repo):
    lock_before = (repo / "dvc.lock").read_text()
    run(["dvc", "repro", "-f"], repo)
    changed = run(["git", "status", "--porcelain", "dvc.lock", "metrics", "plots/train_history.csv",
                   "plots/predictions.csv", "data"], repo).stdout
    assert changed == "", f"outputs changed after dvc repro -f:\n{changed}"
    assert (repo / "dvc.lock").read_text() == lock_before


def test_mlflow_run_of_the_baseline(repo):
    client, runs = mlflow_runs(repo)
    assert runs, "no MLflow runs logged"
    r = runs[0]
    assert r.data.params["alpha"] == "1.0" and r.data.params["train.epochs"] == "2"
    assert len(client.get_metric_history(r.info.run_id, "val_loss")) == 2
    assert [m.step for m in client.get_metric_history(r.info.run_id, "val_acc")] == [1, 2]
    assert "test.mean_accuracy" in r.data.metrics
    assert {"git_commit", "device", "torch_version", "faceattr.model_sha256"} <= set(r.data.tags)
    artifacts = {a.path for a in client.list_artifacts(r.info.run_id)}
    assert {"eval.json", "training_curves.png", "roc_curves.png"} <= artifacts
    assert (repo / "mlruns").is_dir()  # artifacts beside mlflow.db at the repo root


def test_experiment_alpha_quarter(repo):
    import mlflow.pytorch
    import torch

    run(["dvc", "exp", "run", "-S", "alpha=0.25"], repo)
    shown = json.loads(run(["dvc", "exp", "show", "--json"], repo).stdout)
    text = json.dumps(shown)
    assert '"alpha": 0.25' in text and '"alpha": 1.0' in text
    diff = json.loads(run(["dvc", "metrics", "diff", "--json"], repo).stdout)
    assert diff["metrics/train.json"]["best_val_loss"]["old"] != diff["metrics/train.json"]["best_val_loss"]["new"]
    everything = json.loads(run(["dvc", "metrics", "diff", "--all", "--json"], repo).stdout)
    assert set(everything["metrics/eval.json"]["mean_accuracy"]) >= {"old", "new"}
    params_diff = json.loads(run(["dvc", "params", "diff", "--json"], repo).stdout)
    alpha = params_diff["params.yaml"]["alpha"]
    assert (alpha["old"], alpha["new"]) == (1.0, 0.25)
    plots = json.loads(run(["dvc", "plots", "diff", "--json"], repo).stdout)["data"]
    assert sorted(plots["Loss"][0]["revisions"]) == ["HEAD", "workspace"]
    assert any(k.startswith("plots/roc/") for k in plots) and "plots/roc_curves.png" in plots

    client, runs = mlflow_runs(repo)
    quarter = [r for r in runs if r.data.params.get("alpha") == "0.25"]
    assert len(quarter) == 1 and any(r.data.params.get("alpha") == "1.0" for r in runs)
    q = quarter[0]
    assert q.data.tags["dvc_exp_name"] and q.info.run_name == q.data.tags["dvc_exp_name"]
    assert len(client.get_metric_history(q.info.run_id, "train_loss")) == 2
    mlflow.set_tracking_uri(f"sqlite:///{repo / 'mlflow.db'}")
    model = mlflow.pytorch.load_model(f"runs:/{q.info.run_id}/model")
    with torch.no_grad():
        assert model(torch.zeros(3, 3, 32, 32)).shape == (3, 10)


def test_queued_experiment_logs_to_the_same_store(repo):
    """Queued runs execute in .dvc/tmp/exps/tmp*, which is deleted afterwards: the run must still land
    in the repo root's MLflow store, with its artifacts."""
    run(["dvc", "exp", "run", "--queue", "-S", "alpha=0.5", "-n", "queued-half"], repo)
    run(["dvc", "exp", "run", "--run-all"], repo)
    client, runs = mlflow_runs(repo)
    queued = [r for r in runs if r.data.params.get("alpha") == "0.5"]
    assert len(queued) == 1 and queued[0].info.run_name == "queued-half"
    assert "test.mean_accuracy" in queued[0].data.metrics
    assert {a.path for a in client.list_artifacts(queued[0].info.run_id)} >= {"eval.json", "roc_curves.png"}
    assert not list((repo / ".dvc" / "tmp" / "exps").glob("tmp*/mlflow.db"))
