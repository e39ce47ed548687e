"""The MLflow experiment opens on the model-training view, also in a store made by an older faceattr, and
a run's UI link names its experiment and run."""

import mlflow

from faceattr.track import mlflow_runs


def test_an_older_experiment_gets_the_training_view_and_runs_print_their_link(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    mlflow.set_tracking_uri(uri)
    old = mlflow.create_experiment(mlflow_runs.EXPERIMENT)  # as faceattr made it before the tag existed
    assert "mlflow.experimentKind" not in mlflow.get_experiment(old).tags
    with mlflow_runs.start_run({"alpha": 0.25}, {"subset": "60"}) as run:
        link = mlflow_runs.run_link(run)
    assert mlflow.get_experiment(old).tags["mlflow.experimentKind"] == "custom_model_development"
    assert f"#/experiments/{old}/runs/{run.info.run_id}?workflowType=machine_learning" in link
    assert f"mlflow ui --backend-store-uri {uri}" in link
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5005/")
    assert mlflow_runs.run_link(run) == (
        f"http://127.0.0.1:5005/#/experiments/{old}/runs/{run.info.run_id}?workflowType=machine_learning"
    )
