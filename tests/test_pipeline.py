"""End to end: the real `dvc repro`, `dvc exp run` and MLflow store in a temporary git clone, on a tiny
synthetic config (a few dozen images, 32×32 input, two epochs)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import yaml
from helpers import mlflow_runs, run

pytestmark = pytest.mark.e2e  # every test uses the session `repo` (dvc repro) and runs dvc, dvc exp run or torchrun


def test_repro_writes_every_output(repo):
    for rel in [
        "data/raw/synthetic/img_align_celeba.zip",
        "data/interim/unzip_report.json",
        "data/processed/labels.csv",
        "data/processed/partitions/list_partition_30.txt",
        "data/processed/partitions/list_partition_60.txt",
        "models/model.pt",
        "metrics/train.json",
        "metrics/eval.json",
        "plots/train_history.csv",
        "plots/predictions.csv",
        "plots/training_curves.png",
        "plots/per_attribute_accuracy.png",
        "plots/roc_curves.png",
        "plots/label_distribution.png",
        "plots/synthetic_samples.png",
        "metrics/explain.json",
        "plots/per_attribute.json",
        "plots/heat_in_box.json",
        "data/raw/synthetic/attribute_boxes.csv",
    ]:
        assert (repo / rel).is_file(), rel
    trained = yaml.safe_load((repo / "params.yaml").read_text())["labels"]["attributes"]
    assert sorted(p.name for p in (repo / "plots/explain").iterdir()) == sorted(f"{a}.png" for a in trained)
    assert len(list((repo / "data/interim/img_align_celeba").iterdir())) == 400
    report = json.loads((repo / "data/processed/label_report.json").read_text())
    assert report["rows_kept"] == 400 and report["rows_malformed"] == 0
    metrics = json.loads((repo / "metrics/eval.json").read_text())
    # DVC's metrics hold the headline figures only; the per-attribute table is a plots output
    assert sorted(metrics) == [
        "baseline_mean_accuracy",
        "mean_accuracy",
        "mean_balanced_accuracy",
        "mean_f1",
        "mean_roc_auc",
    ]
    assert sorted(json.loads((repo / "metrics/train.json").read_text())) == ["best_epoch", "best_val_loss"]
    shown = run(["dvc", "metrics", "show"], repo, env={"COLUMNS": "160"}).stdout
    assert max(len(line.rstrip()) for line in shown.splitlines()) <= 160, shown
    per_attribute = json.loads((repo / "plots/per_attribute.json").read_text())
    assert [r["attribute"] for r in per_attribute] == trained
    assert metrics["mean_accuracy"] == pytest.approx(sum(r["accuracy"] for r in per_attribute) / len(trained), abs=1e-6)
    assert len((repo / "plots/train_history.csv").read_text().splitlines()) == 3  # header + 2 epochs


def test_evaluation_is_what_the_saved_predictions_and_the_clean_labels_give(repo):
    """metrics/eval.json and plots/per_attribute.json, recomputed here by counting from plots/predictions.csv:
    its rows are the partition's test split with labels.csv's labels, each decision is probability ≥ the
    model file's threshold, and accuracy, balanced accuracy, F1, ROC-AUC and the majority baseline (the
    training split's commonest class) are what those decisions, probabilities and labels give."""
    import csv

    from faceattr.model.model_file import load_model

    params = yaml.safe_load((repo / "params.yaml").read_text())
    attributes = params["labels"]["attributes"]
    with open(repo / "data/processed/labels.csv", newline="") as f:
        labels = {r["image_id"]: {a: int(r[a]) for a in attributes} for r in csv.DictReader(f)}
    partition = repo / f"data/processed/partitions/list_partition_{params['subset']}.txt"
    split = dict(line.split() for line in partition.read_text().splitlines())
    train_ids = [i for i, s in split.items() if s == "0"]
    with open(repo / "plots/predictions.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["image_id"] for r in rows) == sorted(i for i, s in split.items() if s == "2") and len(rows) == 6
    _, spec = load_model(repo / "models/model.pt")
    thresholds = dict(zip(spec.attributes, spec.decision_thresholds()))
    table = {r["attribute"]: r for r in json.loads((repo / "plots/per_attribute.json").read_text())}
    means = {key: [] for key in ("accuracy", "balanced_accuracy", "f1", "baseline_accuracy", "roc_auc")}
    for a in attributes:
        y = [labels[r["image_id"]][a] for r in rows]
        p = [float(r[f"{a}_prob"]) for r in rows]
        d = [int(r[f"{a}_pred"]) for r in rows]
        assert [int(r[f"{a}_true"]) for r in rows] == y, a
        assert table[a]["threshold"] == pytest.approx(thresholds[a], abs=1e-6), a
        assert all(di == int(pi >= thresholds[a]) for pi, di in zip(p, d) if abs(pi - thresholds[a]) > 1e-6), a
        tp, fp = sum(di and yi for di, yi in zip(d, y)), sum(di and not yi for di, yi in zip(d, y))
        fn, tn = sum(yi for yi in y) - tp, sum(not yi for yi in y) - fp
        n, positives = len(y), tp + fn
        majority = int(2 * sum(labels[i][a] for i in train_ids) > len(train_ids))  # ties go to 0
        found = {
            "accuracy": (tp + tn) / n,
            "balanced_accuracy": (tp / positives + tn / (n - positives)) / 2 if 0 < positives < n else (tp + tn) / n,
            "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0,
            "baseline_accuracy": sum(yi == majority for yi in y) / n,
        }
        if 0 < positives < n:  # ROC-AUC: the share of (positive, negative) pairs ranked right, ties half
            pairs = [(pp, pn) for pp, yp in zip(p, y) if yp for pn, yn in zip(p, y) if not yn]
            auc = sum(1.0 if pp > pn else 0.5 if pp == pn else 0.0 for pp, pn in pairs) / len(pairs)
            # the CSV's probabilities have 6 decimals; the tiny model's lie close enough to tie when rounded
            assert table[a]["roc_auc"] == pytest.approx(auc, abs=0.15), a
            means["roc_auc"].append(table[a]["roc_auc"])
        else:
            assert "roc_auc" not in table[a], a  # undefined on one class
        for key, value in found.items():
            assert table[a][key] == pytest.approx(value, abs=1e-6), (a, key)
            means[key].append(value)
    metrics = json.loads((repo / "metrics/eval.json").read_text())
    for key, values in means.items():
        name = "baseline_mean_accuracy" if key == "baseline_accuracy" else f"mean_{key}"
        assert values and metrics[name] == pytest.approx(sum(values) / len(values), abs=2e-6), name


def test_second_repro_is_a_noop_and_status_clean(repo):
    out = run(["dvc", "repro"], repo).stdout
    assert "Running stage" not in out
    status = run(["dvc", "status"], repo).stdout
    assert "up to date" in status
    verified = run([sys.executable, "-m", "faceattr.pipeline.verify"], repo).stdout  # make verify's check, here and now
    assert "verify: bit-identical" in verified and "data stages: byte-identical" in verified


def test_forced_repro_is_byte_identical(repo):
    lock_before = (repo / "dvc.lock").read_text()
    run(["dvc", "repro", "-f"], repo)
    changed = run(
        [
            "git",
            "status",
            "--porcelain",
            "dvc.lock",
            "metrics",
            "plots/train_history.csv",
            "plots/predictions.csv",
            "data",
        ],
        repo,
    ).stdout
    assert changed == "", f"outputs changed after dvc repro -f:\n{changed}"
    assert (repo / "dvc.lock").read_text() == lock_before


def test_remote_push_then_fresh_clone_pull_restores_everything(repo, tmp_path):
    """A local-folder DVC remote: push after repro; a fresh clone pulls byte-identical data and models."""
    run(["git", "checkout", "-q", "--", "."], repo)
    run(["dvc", "checkout", "-q"], repo)
    remote = tmp_path / "remote"
    run(["dvc", "remote", "add", "-d", "--local", "shared", str(remote)], repo)
    run(["dvc", "push"], repo)
    fresh = tmp_path / "fresh"
    run(["git", "clone", "-q", str(repo), str(fresh)], tmp_path)
    run(["dvc", "remote", "add", "-d", "--local", "shared", str(remote)], fresh)
    run(["dvc", "pull"], fresh)
    for rel in [
        "models/model.pt",
        "data/processed/labels.csv",
        "data/raw/synthetic/img_align_celeba.zip",
        "data/processed/partitions/list_partition_60.txt",
        "metrics/eval.json",
        "plots/train_history.csv",
    ]:
        assert (fresh / rel).read_bytes() == (repo / rel).read_bytes(), rel
    assert sorted(p.name for p in (fresh / "data/interim/img_align_celeba").iterdir()) == sorted(
        p.name for p in (repo / "data/interim/img_align_celeba").iterdir()
    )
    assert "up to date" in run(["dvc", "status"], fresh).stdout
    assert "Running stage" not in run(["dvc", "repro"], fresh).stdout


def test_mlflow_run_of_the_baseline(repo):
    client, runs = mlflow_runs(repo)
    assert runs, "no MLflow runs logged"
    r = runs[0]
    assert r.data.params["alpha"] == "1.0" and r.data.params["train.epochs"] == "2"
    assert len(client.get_metric_history(r.info.run_id, "val_loss")) == 2
    assert [m.step for m in client.get_metric_history(r.info.run_id, "val_acc")] == [1, 2]
    assert "test.mean_accuracy" in r.data.metrics
    assert {"git_commit", "device", "torch_version", "faceattr.model_sha256"} <= set(r.data.tags)
    # MLflow's UI opens the experiment on its runs table, not the GenAI overview
    assert client.get_experiment(r.info.experiment_id).tags["mlflow.experimentKind"] == "custom_model_development"
    artifacts = {a.path for a in client.list_artifacts(r.info.run_id)}
    assert {
        "eval.json",
        "training_curves.png",
        "roc_curves.png",
        "explain",
        "explain.json",
        "test_per_attribute.json",
    } <= artifacts
    assert not [k for k in r.data.metrics if ".per_attribute." in k]  # per-attribute figures are a table
    table_dir = repo.parent / "mlflow-table"
    table_dir.mkdir(exist_ok=True)
    table = json.loads(
        Path(client.download_artifacts(r.info.run_id, "test_per_attribute.json", str(table_dir))).read_text()
    )
    assert table["columns"][0] == "attribute" and len(table["data"]) == 10
    explained = {a.path for a in client.list_artifacts(r.info.run_id, "explain")}
    assert "explain/Eyeglasses.png" in explained and len(explained) == 10
    assert (repo / "mlruns").is_dir()  # artifacts beside mlflow.db at the repo root


def test_faceattr_evaluate_gives_the_pipelines_figures(repo, tmp_path):
    """`faceattr evaluate` on the pipeline's test split, decided at the model's thresholds, gives the
    evaluate stage's metrics; `--tta` gives those of evaluate.tta_hflip (computed here in a scratch
    copy of the stage's outputs so the workspace stays as the fixture left it)."""
    import yaml

    params = yaml.safe_load((repo / "params.yaml").read_text())
    cli = [
        "faceattr",
        "evaluate",
        "--model",
        "models/model.pt",
        "--images",
        "data/interim/img_align_celeba",
        "--labels",
        "data/raw/synthetic/list_attr_celeba.txt",
        "--partition",
        f"data/processed/partitions/list_partition_{params['subset']}.txt",
        "--split",
        "2",
    ]
    assert params["evaluate"]["tta_hflip"] is False
    run([*cli, "--out", str(tmp_path / "plain.json")], repo)
    run([*cli, "--tta", "--out", str(tmp_path / "tta.json")], repo)
    stage = json.loads((repo / "metrics/eval.json").read_text())
    plain = json.loads((tmp_path / "plain.json").read_text())
    tta = json.loads((tmp_path / "tta.json").read_text())
    # The decisions must agree exactly. ROC-AUC ranks the images: the tiny model's probabilities lie within
    # about 1e-4 of each other, so float rounding of another thread count (the CLI and a stage may differ
    # there) can swap a pair among the 6 test images; CI saw 0.400 against 0.375 once.
    assert plain["images"] == len((repo / "plots/predictions.csv").read_text().splitlines()) - 1
    for key in ("mean_accuracy", "mean_balanced_accuracy", "mean_f1"):
        assert plain[key] == pytest.approx(stage[key], abs=1e-6), key
    assert plain["mean_roc_auc"] == pytest.approx(stage["mean_roc_auc"], abs=0.05)

    from faceattr.data.partition import partition_path
    from faceattr.data.pixels import PixelCache
    from faceattr.data.splits import load_split, read_partition_labels
    from faceattr.evaluate.evaluation import evaluate, predict_probabilities
    from faceattr.evaluate.metrics import majority_labels
    from faceattr.model.model_file import load_model

    model, spec = load_model(repo / "models/model.pt")
    data = read_partition_labels(
        repo / "data/processed/labels.csv", partition_path(repo / "data/processed/partitions", params["subset"])
    )
    test = load_split(data, "test", PixelCache(repo / "data/processed/pixels"), spec.image_size)
    prob = predict_probabilities(model, spec, test.images, tta_hflip=True)  # what the stage computes with tta on
    expected = evaluate(
        spec.attributes,
        test.labels.numpy().astype(int),
        prob,
        majority_labels(data.labels["train"].numpy()),
        spec.decision_thresholds(),
    ).metrics
    for key in ("mean_accuracy", "mean_balanced_accuracy"):
        assert tta[key] == pytest.approx(expected[key], abs=1e-6), key
    assert tta["mean_roc_auc"] == pytest.approx(expected["mean_roc_auc"], abs=0.05)


def test_quality_benchmark_reads_a_workspace_and_agrees_with_the_evaluate_stage(repo, tmp_path):
    """benchmarks/quality.py on the pipeline's workspace: at threshold 0.5 (the model's own here) its test
    accuracy and ROC-AUC are the evaluate stage's, and tuning on validation never lowers validation's
    balanced accuracy below the 0.5 thresholds' (it maximises it there)."""
    import sys

    out = tmp_path / "quality.json"
    run(
        [
            sys.executable,
            str(Path(__file__).resolve().parents[1] / "benchmarks" / "quality.py"),
            str(repo),
            "--json",
            str(out),
        ],
        repo,
    )
    (found,) = json.loads(out.read_text())
    stage = json.loads((repo / "metrics/eval.json").read_text())
    assert found["test_images"] == len((repo / "plots/predictions.csv").read_text().splitlines()) - 1
    assert found["test"]["accuracy@0.5"] == pytest.approx(stage["mean_accuracy"], abs=1e-6)
    assert found["test"]["roc_auc"] == pytest.approx(stage["mean_roc_auc"], abs=1e-6)
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "quality.py"
    quality = importlib.util.module_from_spec(importlib.util.spec_from_file_location("quality", script))
    quality.__spec__.loader.exec_module(quality)

    from faceattr.data.partition import partition_path
    from faceattr.data.pixels import PixelCache
    from faceattr.data.splits import load_split, read_partition_labels
    from faceattr.evaluate.evaluation import predict_probabilities
    from faceattr.model.model_file import load_model

    model, spec = load_model(repo / "models/model.pt")
    subset = yaml.safe_load((repo / "params.yaml").read_text())["subset"]
    data = read_partition_labels(
        repo / "data/processed/labels.csv", partition_path(repo / "data/processed/partitions", subset)
    )
    val = load_split(data, "val", PixelCache(repo / "data/processed/pixels"), spec.image_size)
    half = [0.5] * len(spec.attributes)
    at_half = quality.figures(
        val.labels.numpy().astype(int), predict_probabilities(model, spec, val.images), half, half
    )
    assert found["val"]["accuracy@0.5"] == pytest.approx(at_half["accuracy@0.5"], abs=1e-9)
    assert found["val"]["balanced_accuracy"] >= at_half["balanced_accuracy"] - 1e-9
