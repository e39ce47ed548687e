"""Where a model file came from: the MLflow run that trained it (found by the file's hash, as the pipeline's
later stages find it) and the test metrics the evaluate stage logged there.

A model file holds no run id: the train stage tags its run with the file's SHA-256 instead. The lookup
reads an existing store only: with no MLFLOW_TRACKING_URI and no mlflow.db in the working folder there is
nothing to look up, and nothing is created (MLflow would otherwise make an empty database).
"""

from __future__ import annotations

from pathlib import Path


def model_run(model_path: str | Path) -> dict:
    """{"run_id", "run_name", "test_metrics"} of the newest run that trained this file, or {"run_id": None,
    "reason": why not}. The test metrics are the run's `test.*` metrics without the prefix."""
    from faceattr.digest import file_sha256

    sha = file_sha256(model_path)
    from faceattr.track.mlflow_runs import store_exists

    if not store_exists():
        return {
            "model_sha256": sha,
            "run_id": None,
            "reason": "no MLflow store here (mlflow.db or MLFLOW_TRACKING_URI)",
        }
    from faceattr.track import mlflow_runs

    try:
        run = mlflow_runs.find_run_for_model(sha)
    except Exception as exc:  # noqa: BLE001 - an unreachable server or an odd store must not stop the page
        return {"model_sha256": sha, "run_id": None, "reason": f"MLflow lookup failed: {type(exc).__name__}"}
    if run is None:
        return {"model_sha256": sha, "run_id": None, "reason": "no MLflow run is tagged with this model's hash"}
    metrics = {k[len("test.") :]: v for k, v in sorted(run.data.metrics.items()) if k.startswith("test.")}
    found = {"model_sha256": sha, "run_id": run.info.run_id, "run_name": run.info.run_name, "test_metrics": metrics}
    from faceattr.track.registry import versions_of_run

    try:
        registered = [f"{v.uri}{''.join(f' @{a}' for a in v.aliases)}" for v in versions_of_run(run.info.run_id)]
    except Exception:  # noqa: BLE001 - as above: the registry is extra information, never a failure
        registered = []
    return {**found, "registered": registered} if registered else found
