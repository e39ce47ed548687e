"""End to end, DVC experiments on the tiny pipeline: `dvc exp run` in the workspace, queued (two workers at
once), in a temporary workspace, under torchrun and with a teacher, each logging to the one MLflow store.

The tests run in order on one workspace of their own (a `dvc repro` of the tiny config, committed), so this
file and test_pipeline.py (the session `repo`) can run side by side under `make test`'s two workers.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml
from helpers import TINY, build_repo, mlflow_runs, run

pytestmark = pytest.mark.e2e  # every test runs dvc exp run on a workspace made by dvc repro


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    """The tiny pipeline after `dvc repro`, committed, as the session `repo` but this module's own (it overrides
    that one here), so the experiments it adds and the workspace run it restores are seen by no other test."""
    return build_repo(tmp_path_factory.mktemp("experiments"), TINY)


def test_experiment_alpha_quarter(repo, monkeypatch):
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
    uri = f"sqlite:///{repo / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)  # set_tracking_uri sets it too: undone after the test
    mlflow.set_tracking_uri(uri)
    model = mlflow.pytorch.load_model(f"runs:/{q.info.run_id}/model")
    with torch.no_grad():
        assert model(torch.zeros(3, 3, 32, 32)).shape == (3, 10)


def test_going_back_to_the_defaults_restores_from_the_run_cache_and_make_exp_names_runs(repo):
    """After `dvc exp run -S alpha=0.25` in the workspace, `git checkout params.yaml && dvc repro` restores the
    default model, metrics and plots from DVC's run cache instead of retraining; `make exp` (faceattr.pipeline.experiment)
    names its run after what it sets, and `make show` (faceattr.pipeline.show) fits a 160-column terminal."""
    import hashlib

    lock = yaml.safe_load(run(["git", "show", "HEAD:dvc.lock"], repo).stdout)
    committed = {o["path"]: o["md5"] for o in lock["stages"]["train"]["outs"]}
    run(["git", "checkout", "--", "params.yaml"], repo)
    out = run(["dvc", "repro"], repo)
    assert "Running stage 'train'" not in out.stdout and "Running stage 'evaluate'" not in out.stdout, out.stdout
    assert "Stage 'train' is cached - skipping run, checking out outputs" in out.stdout
    assert hashlib.md5((repo / "models/model.pt").read_bytes()).hexdigest() == committed["models/model.pt"]
    assert run(["git", "status", "--porcelain", "dvc.lock", "metrics", "plots"], repo).stdout == ""

    made = run([sys.executable, "-m", "faceattr.pipeline.experiment", "alpha=0.25", "--temp"], repo)
    assert "Running stage 'train'" not in made.stdout  # alpha 0.25 ran before: restored too
    names = [
        r.get("name")
        for b in json.loads(run(["dvc", "exp", "show", "--json"], repo).stdout)
        for e in (b.get("experiments") or [])
        for r in e.get("revs") or []
    ]
    assert "a0p25-s60" in names
    table = run([sys.executable, "-m", "faceattr.pipeline.show"], repo, env={"COLUMNS": "160"}).stdout
    assert "a0p25-s60" in table and "mean_balanced_accuracy" in table and "alpha" in table and "…" not in table
    assert max(len(line) for line in table.splitlines()) <= 160, table


def test_two_queue_workers_log_every_run_to_the_same_store(repo):
    """Queued runs execute in .dvc/tmp/exps/tmp*, which is deleted afterwards, here two at once (-j 2): each
    run must still land in the repo root's MLflow store, under its experiment's name, with every metric and
    its artifacts, though both write to the one sqlite store concurrently."""
    run(["dvc", "exp", "run", "--queue", "-S", "alpha=0.5", "-n", "queued-half"], repo)
    run(["dvc", "exp", "run", "--queue", "-S", "alpha=0.75"], repo)
    run(["dvc", "exp", "run", "--run-all", "-j", "2"], repo)
    client, runs = mlflow_runs(repo)
    for alpha in ("0.5", "0.75"):
        matching = [r for r in runs if r.data.params.get("alpha") == alpha]
        assert len(matching) == 1, alpha
        r = matching[0]
        assert r.info.status == "FINISHED"
        assert r.info.run_name == r.data.tags["dvc_exp_name"]
        for key in ("train_loss", "val_loss", "val_acc"):
            assert [m.step for m in client.get_metric_history(r.info.run_id, key)] == [1, 2], (alpha, key)
        assert "test.mean_accuracy" in r.data.metrics and "train_seconds" in r.data.metrics
        assert {a.path for a in client.list_artifacts(r.info.run_id)} >= {"eval.json", "roc_curves.png"}
    assert [r.info.run_name for r in runs if r.data.params.get("alpha") == "0.5"] == ["queued-half"]
    assert not list((repo / ".dvc" / "tmp" / "exps").glob("tmp*/mlflow.db"))


def test_two_cpu_processes_under_torchrun_follow_the_single_process_run(repo):
    """train.processes=2 makes the train stage start itself under torchrun (DDP, gloo on the CPU).

    Each process trains on half of every global batch, with the augmentation the single process would
    draw, so only BatchNorm's per-process batch statistics differ: the curves must stay close, the
    outputs keep their layout, and process 0 alone logs one MLflow run.
    """
    _, before = mlflow_runs(repo)
    single = json.loads((repo / "metrics/train.json").read_text())
    single_eval = json.loads((repo / "metrics/eval.json").read_text())
    single_history = (repo / "plots/train_history.csv").read_text().splitlines()
    out = run(["dvc", "exp", "run", "--temp", "-n", "two-processes", "-S", "train.processes=2"], repo)
    assert "launching 2 training processes" in out.stdout + out.stderr

    shown = json.loads(run(["dvc", "exp", "show", "--json"], repo).stdout)
    revs = [
        r
        for b in shown
        for e in (b.get("experiments") or [])
        for r in e.get("revs") or []
        if r.get("name") == "two-processes"
    ]
    assert len(revs) == 1
    metrics = revs[0]["data"]["metrics"]
    ddp, ddp_eval = metrics["metrics/train.json"]["data"], metrics["metrics/eval.json"]["data"]
    assert set(ddp) == set(single) and set(ddp_eval) == set(single_eval)
    assert abs(ddp["best_val_loss"] - single["best_val_loss"]) <= 0.1 * single["best_val_loss"]
    assert abs(ddp_eval["mean_accuracy"] - single_eval["mean_accuracy"]) <= 0.1

    client, after = mlflow_runs(repo)
    new = [r for r in after if r.info.run_id not in {b.info.run_id for b in before}]
    assert len(new) == 1 and new[0].info.run_name == "two-processes"  # process 0 only
    r = new[0]
    assert r.data.tags["processes"] == "2" and r.data.params["train.processes"] == "2"
    assert [m.step for m in client.get_metric_history(r.info.run_id, "val_loss")] == [1, 2]
    assert "test.mean_accuracy" in r.data.metrics
    assert len(single_history) == 3  # the workspace's single-process outputs are untouched
    assert (repo / "plots/train_history.csv").read_text().splitlines() == single_history


def test_distilled_experiment_finds_its_teacher_from_a_temp_workspace(repo):
    """`dvc exp run --temp` runs in a copy without untracked files: a teacher named relative to the
    repository is still found (through DVC_ROOT), and the MLflow run records which weights taught it."""
    import hashlib
    import shutil

    teacher = repo / "teacher.pt"
    shutil.copy(repo / "models" / "model.pt", teacher)
    try:
        run(
            [
                "dvc",
                "exp",
                "run",
                "--temp",
                "-n",
                "distilled",
                "-S",
                'train.teachers=["teacher.pt"]',
                "-S",
                "train.distill_weight=0.8",
            ],
            repo,
        )
    finally:
        teacher_sha = hashlib.sha256(teacher.read_bytes()).hexdigest()
        teacher.unlink()
    client, runs = mlflow_runs(repo)
    distilled = [r for r in runs if r.info.run_name == "distilled"]
    assert len(distilled) == 1
    r = distilled[0]
    assert r.data.params["train.teachers"] == "['teacher.pt']" and r.data.params["train.distill_weight"] == "0.8"
    assert r.data.tags["faceattr.teachers_sha256"] == hashlib.sha256(teacher_sha.encode()).hexdigest()
    baseline = [
        b for b in runs if b.data.params.get("alpha") == "1.0" and "faceattr.teachers_sha256" not in b.data.tags
    ]
    assert baseline and r.data.tags["faceattr.model_sha256"] not in {
        b.data.tags["faceattr.model_sha256"] for b in baseline
    }
