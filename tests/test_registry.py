"""The model after training, as a user drives it: each training registers a version of the MLflow registered
model `faceattr` with the dataset it learnt from; `faceattr promote` moves @champion; every --model takes
models:/ URIs; dvc.yaml's artifacts entry serves `dvc artifacts get`. Real stages, real dvc, real sqlite store."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

import pytest
from helpers import BIN, faceattr_cli, run

pytestmark = pytest.mark.e2e  # the session `repo` (dvc repro), then dvc exp run

FACEATTR = [str(BIN / "faceattr")]


@pytest.fixture(scope="module")
def registry(repo, tmp_path_factory) -> Path:
    """A copy of the tiny pipeline with a fresh MLflow store: the workspace's training (version 1), then a
    `dvc exp run --temp` with another seed (version 2)."""
    copy = tmp_path_factory.mktemp("registry") / "repo"
    shutil.copytree(repo, copy, symlinks=True, ignore=shutil.ignore_patterns("mlflow.db*", "mlruns"))
    run([sys.executable, "-m", "stages.train"], copy)
    run([sys.executable, "-m", "stages.evaluate"], copy)
    run(["dvc", "exp", "run", "--temp", "-n", "reg-seed7", "-S", "seed=7"], copy)
    return copy


def client(repo: Path):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=f"sqlite:///{repo / 'mlflow.db'}")


def faceattr(args: list[str], repo: Path, check: bool = True):
    """In this process (each test also runs the installed `faceattr` once, as a person does)."""
    return faceattr_cli(args, repo, check=check)


def some_images(repo: Path) -> list[str]:
    return [str(p) for p in sorted((repo / "data/interim/img_align_celeba").glob("*.jpg"))[:3]]


def test_every_training_is_a_version_with_its_dataset(registry):
    c = client(registry)
    versions = sorted(c.search_model_versions("name='faceattr'"), key=lambda v: int(v.version))
    assert [v.version for v in versions] == [1, 2]
    runs = [c.get_run(v.run_id) for v in versions]
    assert runs[1].info.run_name == "reg-seed7" and versions[1].tags["dvc_exp_name"] == "reg-seed7"
    workspace_sha = hashlib.sha256((registry / "models/model.pt").read_bytes()).hexdigest()
    assert versions[0].tags["faceattr.model_sha256"] == runs[0].data.tags["faceattr.model_sha256"] == workspace_sha
    assert versions[1].tags["faceattr.model_sha256"] != workspace_sha  # another seed, another model

    partition = registry / "data/processed/partitions/list_partition_60.txt"
    expected = hashlib.sha256(
        (registry / "data/processed/labels.csv").read_bytes() + partition.read_bytes()
    ).hexdigest()
    for version, r in zip(versions, runs):
        assert version.tags["faceattr.dataset_sha256"] == r.data.tags["faceattr.dataset_sha256"] == expected
        (logged,) = r.inputs.dataset_inputs
        assert logged.dataset.name == "synthetic/list_partition_60.txt" and logged.dataset.digest == expected[:32]
        assert [t.value for t in logged.tags if t.key == "mlflow.data.context"] == ["training"]
        assert json.loads(logged.dataset.profile)["num_rows"] == len(partition.read_text().split("\n")) - 1
        assert "test.mean_accuracy" in r.data.metrics  # evaluate logged to the run that registered the version
    import mlflow

    # what a `pip install -r` needs to load the pickled torchvision model, given rather than inferred
    local = mlflow.artifacts.download_artifacts(c.get_model_version_download_uri("faceattr", "1"))
    names = {line.split("==")[0] for line in (Path(local) / "requirements.txt").read_text().split()}
    assert {"mlflow", "torch", "torchvision", "cloudpickle"} <= names and "tqdm" not in names


def champion(c) -> str | None:
    from mlflow.exceptions import MlflowException

    try:
        return str(c.get_model_version_by_alias("faceattr", "champion").version)
    except MlflowException:
        return None


def test_promote_by_experiment_name_then_by_run_id(registry):
    c = client(registry)
    first_run = c.get_model_version("faceattr", "1").run_id
    before = champion(c)
    out = run(FACEATTR + ["promote", "reg-seed7"], registry).stdout
    assert "models:/faceattr@champion is now models:/faceattr/2 (run " in out and "test mean_accuracy" in out
    assert f"before: {'models:/faceattr/' + before if before else 'no version had @champion'}" in out
    assert champion(c) == "2"

    out = faceattr(["promote", first_run], registry).stdout
    assert "is now models:/faceattr/1" in out and "before: models:/faceattr/2" in out
    assert champion(c) == "1"
    info = faceattr(["info", "models/model.pt"], registry).stdout
    assert "models:/faceattr/1 @champion" in info

    faceattr(["promote", "reg-seed7", "--alias", "challenger"], registry)
    assert c.get_model_version_by_alias("faceattr", "challenger").version == 2
    assert champion(c) == "1"


def test_every_model_option_takes_a_registered_version(registry, tmp_path):
    c = client(registry)
    images = some_images(registry)
    by_file = run(FACEATTR + ["predict", *images, "--format", "json"], registry).stdout  # models/model.pt: version 1
    assert (
        faceattr(["predict", *images, "--format", "json", "--model", "models:/faceattr/1"], registry).stdout == by_file
    )
    other = faceattr(["predict", *images, "--format", "json", "--model", "models:/faceattr/2"], registry).stdout
    assert json.loads(other) != json.loads(by_file)

    faceattr(["promote", "reg-seed7"], registry)
    card = json.loads(faceattr(["info", "models:/faceattr@champion", "--format", "json"], registry).stdout)
    assert card["sha256"] == c.get_model_version("faceattr", "2").tags["faceattr.model_sha256"]
    faceattr(["export", "--model", "models:/faceattr@champion", "--onnx", str(tmp_path / "champion.onnx")], registry)
    assert (tmp_path / "champion.onnx").stat().st_size > 0
    labels = registry / "data/raw/synthetic/list_attr_celeba.txt"
    evaluated = faceattr(
        [
            "evaluate",
            "--model",
            "models:/faceattr@champion",
            "--images",
            str(registry / "data/interim/img_align_celeba"),
            "--labels",
            str(labels),
            "--out",
            str(tmp_path / "m.json"),
        ],
        registry,
    )
    assert evaluated.returncode == 0 and json.loads((tmp_path / "m.json").read_text())["images"] > 0


def test_registry_errors_say_what_exists(registry, tmp_path):
    bad_alias = run(
        FACEATTR + ["predict", *some_images(registry), "--model", "models:/faceattr@nope"], registry, check=False
    )
    assert bad_alias.returncode == 2
    assert "faceattr has no alias 'nope' (versions 1–2; aliases: " in bad_alias.stderr
    bad_version = faceattr(["info", "models:/faceattr/9"], registry, check=False)
    assert bad_version.returncode == 2 and "no version 9 (versions 1–2" in bad_version.stderr
    bad_name = faceattr(["info", "models:/other@champion"], registry, check=False)
    assert (
        bad_name.returncode == 2 and "no registered model 'other'" in bad_name.stderr and "faceattr" in bad_name.stderr
    )
    bad_ref = faceattr(["promote", "no-such-experiment"], registry, check=False)
    assert bad_ref.returncode == 2 and "no run id or experiment name 'no-such-experiment'" in bad_ref.stderr
    assert "reg-seed7" in bad_ref.stderr  # the newest versions' runs, by name
    nowhere = faceattr(["info", "models:/faceattr@champion"], tmp_path, check=False)
    assert nowhere.returncode == 2 and "no MLflow store at" in nowhere.stderr
    assert not (tmp_path / "mlflow.db").exists()  # looking did not create an empty store


def test_dvc_artifacts_get_fetches_the_model(registry, tmp_path):
    """DVC's model registry conventions: a version or stage is a GTO git tag on the dvc.yaml artifact."""
    run(["gto", "register", "faceattr", "--version", "v1.0.0"], registry)
    run(["gto", "assign", "faceattr", "--version", "v1.0.0", "--stage", "prod"], registry)
    for option in ([], ["--rev", "v1.0.0"], ["--stage", "prod"]):
        out = tmp_path / f"model{len(option)}{''.join(option)}.pt"
        run(["dvc", "artifacts", "get", str(registry), "faceattr", *option, "-o", str(out)], tmp_path)
        assert out.read_bytes() == (registry / "models/model.pt").read_bytes(), option
