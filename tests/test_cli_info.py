"""`faceattr info` (the model card) and the notice for models trained on the synthetic faces."""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest
import torch
import yaml
from helpers import jpeg_bytes

from faceattr.cli.entry import main
from faceattr.digest import file_sha256
from faceattr.model.model_file import ModelSpec, build_model, save_model
from faceattr.track.model_card import SYNTHETIC_NOTICE

ATTRS = ["Male", "Smiling", "Young"]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Three files of one model: recording nothing, recording synthetic training data, recording CelebA."""
    root = tmp_path_factory.mktemp("info")
    torch.manual_seed(0)
    model = build_model("mobilenet_v2", len(ATTRS), alpha=0.25).eval()
    for name, extra in (
        ("plain", {}),
        ("synthetic", {"trained_on": "data/raw/synthetic"}),
        ("celeba", {"trained_on": "data/raw/celeba"}),
    ):
        save_model(
            root / f"{name}.pt",
            model,
            ModelSpec("mobilenet_v2", 0.25, ATTRS, (32, 32), extra=extra, thresholds=[0.3, 0.5, 0.7]),
        )
    (root / "face.jpg").write_bytes(jpeg_bytes(0, size=(32, 32)))
    return root, sum(p.numel() for p in model.parameters())


def test_info_shows_the_card_of_a_model_file(models, tmp_path, monkeypatch, capsys):
    root, parameters = models
    monkeypatch.chdir(tmp_path)  # no mlflow.db here: the lookup says so and imports nothing
    for name in ("MLFLOW_TRACKING_URI", "DVC_ROOT"):  # nor a store named by the environment
        monkeypatch.delenv(name, raising=False)
    assert main(["info", str(root / "plain.pt")]) == 0
    out = capsys.readouterr().out
    assert f"mobilenet_v2, alpha 0.25, linear head, {parameters:,} parameters" in out
    assert "32×32 (height × width)" in out and "mean 0.485, 0.456, 0.406" in out
    assert "3: Male, Smiling, Young" in out
    assert "tuned on the validation split" in out and "Male 0.3, Smiling 0.5, Young 0.7" in out
    assert file_sha256(root / "plain.pt") in out
    assert "trained on    not recorded" in out
    assert "mlflow run    none (no MLflow store here" in out

    assert main(["info", str(root / "plain.pt"), "--format", "json", "--no-mlflow"]) == 0
    card = json.loads(capsys.readouterr().out)
    assert card["parameters"] == parameters and card["attributes"] == ATTRS and "mlflow" not in card
    assert card["thresholds"] == {"Male": 0.3, "Smiling": 0.5, "Young": 0.7}
    assert card["bytes"] == (root / "plain.pt").stat().st_size
    assert card["trained_on"] == {"data_dir": None, "synthetic": False, "known_from": None}


def test_info_on_a_missing_or_wrong_file_is_exit_code_2(models, tmp_path, capsys):
    assert main(["info", str(tmp_path / "nope.pt")]) == 2
    assert "model file not found" in capsys.readouterr().err
    (tmp_path / "notes.txt").write_text("hello\n")
    assert main(["info", str(tmp_path / "notes.txt"), "--no-mlflow"]) == 2
    assert "it is a 6-byte text file" in capsys.readouterr().err


def test_predict_notes_a_model_trained_on_the_synthetic_faces_once(models, capsys):
    root, _ = models
    for name, noted in (("synthetic", True), ("celeba", False), ("plain", False)):
        assert (
            main(
                [
                    "predict",
                    str(root / "face.jpg"),
                    str(root / "face.jpg"),
                    "--model",
                    str(root / f"{name}.pt"),
                    "--format",
                    "json",
                ]
            )
            == 0
        )
        out = capsys.readouterr()
        assert out.err.count(SYNTHETIC_NOTICE) == (1 if noted else 0), (name, out.err)
        assert len(json.loads(out.out)) == 2  # the notice never goes to stdout
    assert main(["info", str(root / "synthetic.pt"), "--format", "json", "--no-mlflow"]) == 0
    assert json.loads(capsys.readouterr().out)["trained_on"] == {
        "data_dir": "data/raw/synthetic",
        "synthetic": True,
        "known_from": "model spec",
    }


def _md5(path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_the_pipelines_own_model_is_known_from_dvc_lock(models, tmp_path, monkeypatch, capsys):
    """A file recording nothing, but recorded (same MD5) by dvc.lock as the train stage's output: its data.dir,
    params and metrics come from the lock and the metrics files it records; a changed file gets none of it."""
    root, _ = models
    repo = tmp_path / "repo"
    (repo / "models").mkdir(parents=True)
    (repo / "metrics").mkdir()
    model = repo / "models" / "model.pt"
    shutil.copy(root / "plain.pt", model)
    (repo / "metrics" / "train.json").write_text(json.dumps({"best_epoch": 3, "train_images": 80}))
    (repo / "metrics" / "eval.json").write_text(json.dumps({"images": 20, "mean_accuracy": 0.91, "per_attribute": {}}))
    entry = {"path": "models/model.pt", "hash": "md5", "md5": _md5(model)}
    lock = {
        "schema": "2.0",
        "stages": {
            "unzip": {"params": {"params.yaml": {"data": {"dir": "data/raw/synthetic"}}}},
            "train": {
                "params": {
                    "params.yaml": {
                        "subset": 100,
                        "seed": 1,
                        "evaluate.tune_thresholds": True,
                        "evaluate.threshold_objective": "f1",
                        "model": {"pretrained": "", "freeze": "none"},
                        "train": {"epochs": 3, "lr": 0.003},
                    }
                },
                "outs": [{"path": "metrics/train.json", "md5": _md5(repo / "metrics" / "train.json")}, entry],
            },
            "evaluate": {
                "deps": [entry],
                "outs": [{"path": "metrics/eval.json", "md5": _md5(repo / "metrics" / "eval.json")}],
            },
        },
    }
    (repo / "dvc.lock").write_text(yaml.safe_dump(lock))
    monkeypatch.chdir(tmp_path)
    assert main(["info", str(model), "--format", "json", "--no-mlflow"]) == 0
    card = json.loads(capsys.readouterr().out)
    assert card["trained_on"] == {"data_dir": "data/raw/synthetic", "synthetic": True, "known_from": "dvc.lock"}
    assert card["training"]["subset"] == 100 and card["training"]["train.epochs"] == 3
    assert card["train_metrics"] == {"best_epoch": 3, "train_images": 80}
    assert card["test_metrics"] == {"images": 20, "mean_accuracy": 0.91}
    assert card["thresholds_chosen"] == "tuned on the validation split (f1)"
    assert main(["info", str(model), "--no-mlflow"]) == 0
    text = capsys.readouterr().out
    assert "data/raw/synthetic (the pipeline's synthetic faces" in text and "mean_accuracy 0.9100" in text
    assert main(["predict", str(root / "face.jpg"), "--model", str(model)]) == 0
    assert capsys.readouterr().err.count(SYNTHETIC_NOTICE) == 1

    (repo / "metrics" / "eval.json").write_text("{}")  # no longer the evaluation the lock records
    assert main(["info", str(model), "--format", "json", "--no-mlflow"]) == 0
    assert "test_metrics" not in json.loads(capsys.readouterr().out)
    with open(model, "ab") as fh:  # another file now (it still loads): nothing from the lock applies to it
        fh.write(b"\0")
    assert main(["info", str(model), "--format", "json", "--no-mlflow"]) == 0
    card = json.loads(capsys.readouterr().out)
    assert card["trained_on"]["known_from"] is None and "training" not in card and "train_metrics" not in card
    shutil.copy(root / "celeba.pt", model)
    assert main(["info", str(model), "--format", "json", "--no-mlflow"]) == 0
    card = json.loads(capsys.readouterr().out)
    assert card["trained_on"]["known_from"] == "model spec" and "training" not in card
