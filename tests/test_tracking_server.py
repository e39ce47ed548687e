"""A shared MLflow tracking server (database backend + artifact root) on loopback: runs logged through
MLFLOW_TRACKING_URI=http://127.0.0.1:PORT appear with their metrics and model in its REST API."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.request

import pytest
from helpers import BIN, run

pytestmark = pytest.mark.e2e  # an mlflow server, and the session `repo` (dvc repro)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def api(base: str, path: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        f"{base}{path}",
        data=data,
        headers={"Content-Type": "application/json"},
        method="POST" if body is not None else "GET",
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read() or b"{}")


@pytest.fixture
def server(tmp_path):
    port = free_port()
    log = open(tmp_path / "server.log", "w")
    proc = subprocess.Popen(
        [
            str(BIN / "mlflow"),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--backend-store-uri",
            f"sqlite:///{tmp_path / 'server.db'}",
            "--artifacts-destination",
            str(tmp_path / "artifacts"),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{base}/health", timeout=2)
            break
        except OSError:
            if proc.poll() is not None:
                raise AssertionError((tmp_path / "server.log").read_text())
            time.sleep(0.5)
    else:
        proc.kill()
        raise AssertionError("mlflow server did not start:\n" + (tmp_path / "server.log").read_text())
    yield base
    proc.terminate()
    proc.wait(timeout=30)
    log.close()


def test_training_logs_to_a_tracking_server(repo, server, tmp_path):
    env = {"MLFLOW_TRACKING_URI": server}
    run(["python", "-m", "stages.train"], repo, env=env)
    run(["python", "-m", "stages.evaluate"], repo, env=env)
    experiment = api(server, "/api/2.0/mlflow/experiments/get-by-name?experiment_name=faceattr")["experiment"]
    runs = api(server, "/api/2.0/mlflow/runs/search", {"experiment_ids": [experiment["experiment_id"]]})["runs"]
    assert len(runs) == 1
    metrics = {m["key"]: m["value"] for m in runs[0]["data"]["metrics"]}
    assert {"val_loss", "train_loss", "test.mean_accuracy"} <= set(metrics)
    history = api(server, f"/api/2.0/mlflow/metrics/get-history?run_id={runs[0]['info']['run_id']}&metric_key=val_loss")
    assert [m["step"] for m in history["metrics"]] == [1, 2]
    models = api(server, "/api/2.0/mlflow/logged-models/search", {"experiment_ids": [experiment["experiment_id"]]})
    assert [m["info"]["name"] for m in models["models"]] == ["model"]
    assert models["models"][0]["info"]["source_run_id"] == runs[0]["info"]["run_id"]
    assert any((tmp_path / "artifacts").rglob("MLmodel"))  # the model's files went to the server's artifact root
    versions = api(server, "/api/2.0/mlflow/model-versions/search?filter=name%3D%27faceattr%27")["model_versions"]
    assert [(v["version"], v["run_id"]) for v in versions] == [("1", runs[0]["info"]["run_id"])]
    inputs = api(server, f"/api/2.0/mlflow/runs/get?run_id={runs[0]['info']['run_id']}")["run"]["inputs"]
    assert inputs["dataset_inputs"][0]["dataset"]["name"] == "synthetic/list_partition_60.txt"

    # the registry through the server: promote, then predict with the champion fetched from its artifact store
    faceattr = str(BIN / "faceattr")
    promoted = run([faceattr, "promote", runs[0]["info"]["run_id"]], repo, env=env).stdout
    assert "models:/faceattr@champion is now models:/faceattr/1" in promoted
    assert (
        api(server, "/api/2.0/mlflow/registered-models/alias?name=faceattr&alias=champion")["model_version"]["version"]
        == "1"
    )
    images = [str(p) for p in sorted((repo / "data/interim/img_align_celeba").glob("*.jpg"))[:2]]
    by_uri = run(
        [faceattr, "predict", *images, "--format", "json", "--model", "models:/faceattr@champion"], repo, env=env
    )
    by_file = run([faceattr, "predict", *images, "--format", "json", "--model", "models/model.pt"], repo)
    assert by_uri.stdout == by_file.stdout
