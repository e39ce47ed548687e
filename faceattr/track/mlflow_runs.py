"""MLflow tracking: one run per training, found again by the model's hash by later stages.

The store defaults to `sqlite:///<repo root>/mlflow.db` with artifacts in `<repo root>/mlruns`, where
the repo root is DVC_ROOT when DVC runs us (also inside `dvc exp run --temp` and queue workspaces,
which are deleted afterwards), so every run, workspace or queued, lands in the same store.
MLFLOW_TRACKING_URI overrides it, e.g. a shared `mlflow server`.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from faceattr.digest import files_sha256

EXPERIMENT = "faceattr"
MODEL_TAG = "faceattr.model_sha256"
# Every training's model becomes a version of this registered model; `faceattr promote` moves the alias
# CHAMPION, and the CLI's --model accepts models:/faceattr@champion (faceattr/track/registry.py).
REGISTERED_MODEL = "faceattr"
CHAMPION = "champion"
DATASET_TAG = "faceattr.dataset_sha256"
# MLflow 3's UI opens an experiment on its GenAI overview (traces, prompts). The experiment is tagged as
# model training, and the links faceattr prints carry `workflowType=machine_learning`: MLflow 3.17 takes
# the view from that URL parameter (or the GenAI / Model training switch, which it remembers) over the tag.
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}
TRAINING_VIEW = "?workflowType=machine_learning"


def repo_root() -> Path:
    """DVC_ROOT under DVC (the real repository, even for temporary experiment workspaces), else the cwd."""
    return Path(os.environ.get("DVC_ROOT") or os.getcwd()).resolve()


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{repo_root() / 'mlflow.db'}"


def store_exists() -> bool:
    """Whether there is a store to read: the sqlite file (or MLflow file-store folder) that the tracking URI
    names exists, the default's or MLFLOW_TRACKING_URI's. Opening a missing local store creates an empty one, so
    reading commands check this first; a server or database URI (http, postgresql, …) is left to MLflow."""
    uri = tracking_uri()
    if uri.startswith("sqlite:///"):
        return Path(uri[len("sqlite:///") :].split("?", 1)[0]).is_file()
    if uri.startswith("file://"):
        return Path(uri[len("file://") :]).is_dir()
    if "://" not in uri and not uri.startswith("databricks"):
        return Path(uri).is_dir()  # a plain path: MLflow's file store
    return True


def git_commit(short: bool = False) -> str | None:
    args = ["git", "rev-parse", "--short" if short else "--verify", "HEAD"]
    try:
        out = subprocess.run(args, capture_output=True, text=True, check=True, cwd=os.getcwd())
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip() or None


def run_name() -> str:
    """The DVC experiment's name under `dvc exp run`, otherwise the git short commit."""
    return os.environ.get("DVC_EXP_NAME") or git_commit(short=True) or "workspace"


def flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'train': {'lr': 0.1}} → {'train.lr': 0.1}; lists become strings."""
    flat: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value if isinstance(value, (int, float, str, bool)) or value is None else str(value)
    return flat


@contextlib.contextmanager
def _store_lock() -> Iterator[None]:
    """Serialise the first use of a local sqlite store across processes.

    Two queued experiments starting together would otherwise both try to create the database schema
    or the experiment; later writes are short and sqlite's own locking handles them.
    """
    uri = tracking_uri()
    try:
        import fcntl
    except ImportError:  # not on POSIX: no cross-process lock
        fcntl = None
    if not uri.startswith("sqlite:///") or fcntl is None:
        yield
        return
    lock_path = Path(uri[len("sqlite:///") :] + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


_OPENED: set[str] = set()  # the stores this process has opened (schema checked): a stage opens its store 2-4 times


def _client():
    import logging

    import mlflow

    # registering a model downloads it once: no progress bar in the stage's log
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)
    uri = tracking_uri()
    if uri in _OPENED:
        mlflow.set_tracking_uri(uri)
        return mlflow
    with _store_lock():
        mlflow.set_tracking_uri(uri)
        mlflow.MlflowClient().search_experiments(max_results=1)  # creates or upgrades the schema, once
    _OPENED.add(uri)
    return mlflow


def start_run(params: Mapping[str, Any], tags: Mapping[str, str]):
    """Start the MLflow run of a training, in experiment `faceattr` (created with its artifact root)."""
    mlflow = _client()
    with _store_lock():
        experiment = mlflow.get_experiment_by_name(EXPERIMENT)
        if experiment is None:
            location = (repo_root() / "mlruns").as_uri() if tracking_uri().startswith("sqlite:") else None
            mlflow.create_experiment(EXPERIMENT, artifact_location=location, tags=EXPERIMENT_KIND)
        elif not EXPERIMENT_KIND.items() <= experiment.tags.items():  # a store made by an older faceattr
            for key, value in EXPERIMENT_KIND.items():
                mlflow.MlflowClient().set_experiment_tag(experiment.experiment_id, key, value)
    mlflow.set_experiment(EXPERIMENT)
    run = mlflow.start_run(run_name=run_name())
    all_tags = {
        "git_commit": git_commit() or "",
        "dvc_exp_name": os.environ.get("DVC_EXP_NAME", ""),
        "torch_version": _torch_version(),
        **tags,
    }
    mlflow.set_tags(all_tags)
    _log_params(mlflow, params)
    return run


def run_link(run) -> str:
    """Where to see a run: its page in the MLflow UI, with the command that serves that UI for this store."""
    uri = tracking_uri()
    page = f"#/experiments/{run.info.experiment_id}/runs/{run.info.run_id}{TRAINING_VIEW}"
    if uri.startswith(("http://", "https://")):
        return f"{uri.rstrip('/')}/{page}"
    return f"http://127.0.0.1:5000/{page} (after `mlflow ui --backend-store-uri {uri}`)"


def log_epoch(record: Mapping[str, Any]) -> None:
    """One epoch's figures (train_loss, val_acc, …) at step = the epoch number, in the active run."""
    import mlflow

    mlflow.log_metrics({k: v for k, v in record.items() if k != "epoch"}, step=int(record["epoch"]))


def resume_or_start_run(
    params: Mapping[str, Any],
    tags: Mapping[str, str],
    resumed_run_id: str | None,
    history: list[dict],
    abandoned_run_id: str | None = None,
):
    """The MLflow run of a training that may resume an interrupted one (a SIGKILL leaves its run RUNNING).

    Resuming from a checkpoint continues the run that the checkpoint names, so one run holds every epoch
    and ends FINISHED. If that run is not in this store (another MLFLOW_TRACKING_URI) or does not accept
    the params again, it is marked KILLED and a new run starts with the checkpoint's epochs copied in.
    The run of a checkpoint discarded for other params or data is marked KILLED too.
    """
    from mlflow.exceptions import MlflowException

    mlflow = _client()
    client = mlflow.MlflowClient()
    if abandoned_run_id is not None:
        _mark_killed(client, abandoned_run_id)
    if resumed_run_id is not None:
        try:
            run = mlflow.start_run(run_id=resumed_run_id)
        except MlflowException:
            run = None
        if run is not None:
            try:
                _log_params(mlflow, params)  # the same values again are accepted; changed ones are not
                print(f"train: continuing MLflow run {resumed_run_id}", file=sys.stderr)
                return run
            except MlflowException:
                mlflow.end_run("KILLED")
        _mark_killed(client, resumed_run_id)
    run = start_run(params, tags)
    for record in history:  # the epochs before the interruption, so the new run's curves are whole
        log_epoch(record)
    return run


def _mark_killed(client, run_id: str) -> None:
    from mlflow.exceptions import MlflowException

    try:
        if client.get_run(run_id).info.status == "RUNNING":
            client.set_terminated(run_id, status="KILLED")
    except MlflowException:
        pass  # not in this store


def _log_params(mlflow, params: Mapping[str, Any]) -> None:
    items = list(flatten(params).items())
    for start in range(0, len(items), 100):
        mlflow.log_params(dict(items[start : start + 100]))


def _torch_version() -> str:
    import torch

    return torch.__version__


def find_run_for_model(model_sha256: str):
    """The newest run whose model has this hash, or None (e.g. the train stage came from DVC's cache)."""
    mlflow = _client()
    experiment = mlflow.get_experiment_by_name(EXPERIMENT)
    if experiment is None:
        return None
    runs = mlflow.search_runs(
        experiment_ids=[experiment.experiment_id],
        filter_string=f"tags.`{MODEL_TAG}` = '{model_sha256}'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
        output_format="list",
    )
    return runs[0] if runs else None


def log_to_model_run(
    model_sha256: str,
    metrics: Mapping[str, float],
    artifacts: Iterable[str | Path],
    params: Mapping[str, Any] | None = None,
    tables: Mapping[str, list[dict]] | None = None,
) -> str:
    """Add metrics, artifact files and tables (name → rows, shown in the run's Artifacts and in the
    experiment's Evaluation view) to the run that trained this model; start one if none is found."""
    mlflow = _client()
    run = find_run_for_model(model_sha256)
    if run is None:
        active = start_run(params or {}, {MODEL_TAG: model_sha256})
    else:
        active = mlflow.start_run(run_id=run.info.run_id)
    with active:
        mlflow.log_metrics(dict(metrics))
        for path in map(Path, artifacts):
            if path.is_dir():
                mlflow.log_artifacts(str(path), artifact_path=path.name)
            elif path.exists():
                mlflow.log_artifact(str(path))
        for name, rows in (tables or {}).items():
            mlflow.log_table(_columns(rows), artifact_file=name)
    return active.info.run_id


def _columns(rows: list[dict]) -> dict[str, list]:
    """Rows → columns (what mlflow.log_table takes without pandas); a key missing from a row is None."""
    keys = list(dict.fromkeys(k for row in rows for k in row))
    return {k: [row.get(k) for row in rows] for k in keys}


def dataset_digest(*files: str | Path) -> str:
    """SHA-256 over the files' bytes in order (the clean labels, then the partition): what a training learnt
    from, so two runs with the same digest saw the same images, labels and splits."""
    return files_sha256(*files)


def log_training_dataset(
    name: str, source: str, digest: str, attributes: list[str], ids: Mapping[str, list[str]], labels: Mapping[str, Any]
) -> None:
    """The labels and splits a training used as the active run's input dataset (MLflow's Datasets column
    and the run page): one row per image (image_id, split, 0/1 per attribute), its digest `digest`."""
    import warnings

    import mlflow
    import numpy as np
    import pandas as pd

    frames = []
    for split, split_ids in ids.items():
        frame = pd.DataFrame(
            np.asarray(labels[split], dtype=np.int8).reshape(len(split_ids), len(attributes)), columns=attributes
        )
        frame.insert(0, "split", split)
        frame.insert(0, "image_id", split_ids)
        frames.append(frame)
    rows = pd.concat(frames, ignore_index=True)
    # MLflow keeps at most 36 characters of a digest; the full SHA-256 is the run's DATASET_TAG
    with (
        warnings.catch_warnings()
    ):  # MLflow 3.17 registers its local-path source class twice, then warns it is ambiguous
        warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted in multiple ways")
        warnings.filterwarnings(
            "ignore", message="Hint: Inferred schema contains integer column"
        )  # 0/1 labels: never missing
        dataset = mlflow.data.from_pandas(rows, source=source, name=name, digest=digest[:32])
        mlflow.log_input(dataset, context="training")
    mlflow.set_tag(DATASET_TAG, digest)


def register_logged_model(model_info, tags: Mapping[str, str]) -> str:
    """Tag the registered model version that `mlflow.pytorch.log_model(registered_model_name=...)` made
    (so `faceattr promote` and the UI can tell versions apart) and return its number."""
    import mlflow

    client = mlflow.MlflowClient()
    version = str(model_info.registered_model_version)
    for key, value in tags.items():
        client.set_model_version_tag(REGISTERED_MODEL, version, key, value)
    registered = client.get_registered_model(REGISTERED_MODEL)
    if not registered.description:
        client.update_registered_model(
            REGISTERED_MODEL,
            description="faceattr's trainings, one version each (dvc repro / dvc exp run). "
            "`faceattr promote <run id | experiment name>` sets the alias champion; "
            "`faceattr predict --model models:/faceattr@champion` uses it.",
        )
    return version
