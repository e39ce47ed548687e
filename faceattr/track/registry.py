"""The model after training: MLflow's registered model `faceattr`, its `champion` alias, and the
`models:/` URIs every `faceattr` command's --model accepts.

The train stage registers each training's model as a new version (faceattr/track/mlflow_runs.py), with
models/model.pt inside it (the MLflow model's extra_files), so a version is a faceattr model file too.
`faceattr promote <run id | DVC experiment name>` points the alias at the version that run registered;
`--model models:/faceattr@champion` (or `models:/faceattr/3`) fetches that file from the store.

The store is the pipeline's (./mlflow.db of the working folder, or MLFLOW_TRACKING_URI), read only:
a missing store (no sqlite file where the URI points, default or MLFLOW_TRACKING_URI) is an error saying where
it was looked for, never an empty database made on the spot.
"""

from __future__ import annotations

import atexit
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from faceattr.errors import FaceattrError
from faceattr.track.mlflow_runs import CHAMPION, EXPERIMENT, REGISTERED_MODEL, store_exists, tracking_uri

URI_PREFIX = "models:/"
# models:/<name>@<alias> or models:/<name>/<version>, MLflow's two forms
_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[\w-]+)|/(?P<version>\d+))$")
MODEL_FILE = "extra_files/model.pt"  # where the train stage puts models/model.pt inside the MLflow model


@dataclass(frozen=True)
class Version:
    """One registered model version as faceattr shows it."""

    name: str
    version: str
    run_id: str
    aliases: tuple[str, ...]

    @property
    def uri(self) -> str:
        return f"{URI_PREFIX}{self.name}/{self.version}"


def _client():
    """The MLflow client on the pipeline's store; an error naming the store when there is none."""
    if not store_exists():
        raise FaceattrError(
            f"no MLflow store at {tracking_uri()} (the pipeline writes mlflow.db in the project's "
            "folder: run this there, or set MLFLOW_TRACKING_URI to the store or server)"
        )
    from faceattr.track.mlflow_runs import _client as client

    return client().MlflowClient()


def _version(mv) -> Version:
    return Version(mv.name, str(mv.version), mv.run_id or "", tuple(sorted(getattr(mv, "aliases", []) or [])))


def _versions(client, name: str) -> tuple[dict[str, str], list]:
    """The registered model's aliases (alias → version) and its versions, oldest first."""
    from mlflow.exceptions import MlflowException

    try:
        registered = client.get_registered_model(name)
    except MlflowException as exc:
        names = sorted(m.name for m in client.search_registered_models())
        raise FaceattrError(
            f"{URI_PREFIX}{name}: no registered model {name!r} in {tracking_uri()} "
            f"(registered: {', '.join(names) or 'none: `dvc repro` registers each training'})"
        ) from exc
    aliases = {a: str(v) for a, v in (registered.aliases or {}).items()}
    return aliases, sorted(client.search_model_versions(f"name='{name}'"), key=lambda mv: int(mv.version))


def _span(versions: list) -> str:
    numbers = [str(mv.version) for mv in versions]
    return (
        f"versions {numbers[0]}–{numbers[-1]}"
        if len(numbers) > 1
        else f"version {numbers[0]}"
        if numbers
        else "no versions"
    )


def lookup(uri: str, client=None) -> Version:
    """The version a models:/ URI names, with errors that say what exists instead."""
    match = _URI.match(uri)
    if not match:
        raise FaceattrError(
            f"--model {uri}: expected {URI_PREFIX}<name>@<alias> or {URI_PREFIX}<name>/<version>, "
            f"e.g. {URI_PREFIX}{REGISTERED_MODEL}@{CHAMPION} or {URI_PREFIX}{REGISTERED_MODEL}/1"
        )
    from mlflow.exceptions import MlflowException

    client = client or _client()
    name, alias, number = match["name"], match["alias"], match["version"]
    aliases, versions = _versions(client, name)
    try:
        mv = client.get_model_version_by_alias(name, alias) if alias else client.get_model_version(name, number)
    except MlflowException as exc:
        what = f"no alias {alias!r}" if alias else f"no version {number}"
        hint = f"; `faceattr promote <run id | experiment name>` sets @{CHAMPION}" if alias == CHAMPION else ""
        raise FaceattrError(
            f"{uri}: {name} has {what} ({_span(versions)}; aliases: "
            f"{', '.join(f'{a} → {v}' for a, v in sorted(aliases.items())) or 'none'}){hint}"
        ) from exc
    return _version(mv)


def fetch(uri: str) -> Path:
    """The faceattr model file of a models:/ URI, downloaded into a folder removed when the process ends."""
    client = _client()  # once: opening the store checks its schema under a file lock
    version = lookup(uri, client)
    import mlflow
    from mlflow.exceptions import MlflowException

    where = client.get_model_version_download_uri(version.name, version.version)
    folder = tempfile.mkdtemp(prefix="faceattr-model-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    try:
        path = mlflow.artifacts.download_artifacts(artifact_uri=f"{where.rstrip('/')}/{MODEL_FILE}", dst_path=folder)
    except (MlflowException, OSError) as exc:
        raise FaceattrError(
            f"{uri} ({version.uri}, run {version.run_id}): its MLflow model holds no {MODEL_FILE} "
            "(it was not registered by faceattr's train stage) or its files cannot be read "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
        ) from exc
    return Path(path)


def _runs_named(client, ref: str) -> list:
    """Runs of the faceattr experiment that a DVC experiment name (or a run name) names, newest first."""
    experiment = client.get_experiment_by_name(EXPERIMENT)
    if experiment is None:
        return []
    quoted = ref.replace("'", "")
    found = {}
    for clause in (f"tags.dvc_exp_name = '{quoted}'", f"attributes.run_name = '{quoted}'"):
        for run in client.search_runs([experiment.experiment_id], clause, order_by=["attributes.start_time DESC"]):
            found.setdefault(run.info.run_id, run)
    return sorted(found.values(), key=lambda r: r.info.start_time, reverse=True)


def promote(ref: str, alias: str = CHAMPION) -> tuple[Version, Version | None, dict[str, float]]:
    """Point `alias` of the registered model at the version that run `ref` registered.

    `ref` is a run id or a DVC experiment name (the run's name; `dvc exp run` names runs after their
    experiment). Returns the version now holding the alias, the one that held it before (or None), and the
    run's test metrics (the evaluate stage's `test.*`, prefix removed).
    """
    if not ref.replace("'", "").strip():  # an empty name would match runs whose name is empty
        raise FaceattrError(
            f"faceattr promote {ref!r}: name a run id or a DVC experiment name (dvc exp show lists them)"
        )
    if not alias.strip():
        raise FaceattrError("faceattr promote --alias '': name the alias to move (default: champion)")
    from mlflow.exceptions import MlflowException

    client = _client()
    _, versions = _versions(client, REGISTERED_MODEL)
    by_run = {mv.run_id: mv for mv in versions}
    if ref in by_run:
        chosen = by_run[ref]
    else:
        runs = [r for r in _runs_named(client, ref) if r.info.run_id in by_run]
        if not runs:
            recent = [
                f"{mv.run_id} (version {mv.version}"
                f"{', ' + client.get_run(mv.run_id).info.run_name if mv.run_id else ''})"
                for mv in versions[-5:][::-1]
            ]
            raise FaceattrError(
                f"faceattr promote {ref}: no run id or experiment name {ref!r} among the runs that "
                f"registered a version of {REGISTERED_MODEL} ({_span(versions)}); the newest: "
                f"{'; '.join(recent) or 'none'}"
            )
        chosen = by_run[runs[0].info.run_id]  # an experiment name reused (-f): its newest training
    try:
        before = _version(client.get_model_version_by_alias(REGISTERED_MODEL, alias))
    except MlflowException:
        before = None
    client.set_registered_model_alias(REGISTERED_MODEL, alias, chosen.version)
    metrics = {
        k[len("test.") :]: v
        for k, v in sorted(client.get_run(chosen.run_id).data.metrics.items())
        if k.startswith("test.")
    }
    return _version(client.get_model_version(REGISTERED_MODEL, chosen.version)), before, metrics


def versions_of_run(run_id: str) -> list[Version]:
    """The registered versions a run made (faceattr info shows them); [] when there is no store."""
    if not store_exists():
        return []
    client = _client()
    # searching leaves a version's aliases out: read each version
    return [
        _version(client.get_model_version(mv.name, mv.version))
        for mv in client.search_model_versions(f"run_id='{run_id}'")
    ]
