"""The MLflow run of a resumed training: continued, or replaced by one holding the earlier epochs."""

from __future__ import annotations

import mlflow
import pytest

from faceattr.track import mlflow_runs

PARAMS = {"alpha": 1.0, "train": {"lr": 0.003}}
HISTORY = [{"epoch": 1, "train_loss": 0.9, "val_loss": 0.8}, {"epoch": 2, "train_loss": 0.7, "val_loss": 0.6}]


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.chdir(tmp_path)
    yield mlflow.MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    while mlflow.active_run():
        mlflow.end_run()


def killed_run() -> str:
    """A run as a SIGKILLed training leaves it: RUNNING, with epoch 1 logged."""
    run = mlflow_runs.start_run(PARAMS, {})
    mlflow_runs.log_epoch(HISTORY[0])
    run_id = run.info.run_id
    mlflow.end_run("RUNNING")  # detach without finishing it
    return run_id


def test_a_resumed_training_continues_its_run(store):
    old = killed_run()
    with mlflow_runs.resume_or_start_run(PARAMS, {}, old, HISTORY[:1]) as run:
        assert run.info.run_id == old
        mlflow_runs.log_epoch(HISTORY[1])
    assert store.get_run(old).info.status == "FINISHED"
    assert [m.step for m in store.get_metric_history(old, "val_loss")] == [1, 2]


def test_a_run_that_cannot_be_continued_is_killed_and_its_epochs_copied(store):
    old = killed_run()
    changed = {**PARAMS, "alpha": 0.5}  # a param the old run holds with another value: it cannot take it again
    with mlflow_runs.resume_or_start_run(changed, {}, old, HISTORY[:1]) as run:
        new = run.info.run_id
        mlflow_runs.log_epoch(HISTORY[1])
    assert new != old and store.get_run(old).info.status == "KILLED"
    assert [m.step for m in store.get_metric_history(new, "val_loss")] == [1, 2]
    with mlflow_runs.resume_or_start_run(PARAMS, {}, "0" * 32, HISTORY[:1]) as run:  # not in this store
        assert [m.step for m in store.get_metric_history(run.info.run_id, "val_loss")] == [1]


def test_the_run_of_a_discarded_checkpoint_is_marked_killed(store):
    old = killed_run()
    with mlflow_runs.resume_or_start_run(PARAMS, {}, None, [], abandoned_run_id=old) as run:
        assert run.info.run_id != old
    assert store.get_run(old).info.status == "KILLED"
