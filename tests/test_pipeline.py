"""End to end: the real `dvc repro`, `dvc exp run` and MLflow store in a temporary git clone, on a tiny
synthetic config (a few dozen images, 32×32 input, two epochs)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

from helpers import run

pytestmark = pytest.mark.e2e  # every test uses the session `repo` (dvc repro) and runs dvc, dvc exp run or torchrun


def mlflow_runs(repo: Path):
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{repo / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("faceattr")
    assert experiment is not None, "no MLflow experiment 'faceattr' at the repo root"
    return client, client.search_runs([experiment.experiment_id])


def test_repro_writes_every_output(repo):
    for rel in ["data/raw/synthetic/img_align_celeba.zip", "data/interim/unzip_report.json",
                "data/processed/labels.csv", "data/processed/partitions/list_partition_30.txt",
                "data/processed/partitions/list_partition_60.txt", "models/model.pt", "metrics/train.json",
                "metrics/eval.json", "plots/train_history.csv", "plots/predictions.csv",
                "plots/training_curves.png", "plots/per_attribute_accuracy.png", "plots/roc_curves.png",
                "plots/label_distribution.png", "plots/synthetic_samples.png", "metrics/explain.json",
                "plots/per_attribute.json", "plots/heat_in_box.json",
                "data/raw/synthetic/attribute_boxes.csv"]:
        assert (repo / rel).is_file(), rel
    trained = yaml.safe_load((repo / "params.yaml").read_text())["labels"]["attributes"]
    assert sorted(p.name for p in (repo / "plots/explain").iterdir()) == sorted(f"{a}.png" for a in trained)
    assert len(list((repo / "data/interim/img_align_celeba").iterdir())) == 400
    report = json.loads((repo / "data/processed/label_report.json").read_text())
    assert report["rows_kept"] == 400 and report["rows_malformed"] == 0
    metrics = json.loads((repo / "metrics/eval.json").read_text())
    # DVC's metrics hold the headline figures only; the per-attribute table is a plots output
    assert sorted(metrics) == ["baseline_mean_accuracy", "mean_accuracy", "mean_balanced_accuracy", "mean_f1",
                               "mean_roc_auc"]
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

    from faceattr.models import load_model

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
        found = {"accuracy": (tp + tn) / n,
                 "balanced_accuracy": (tp / positives + tn / (n - positives)) / 2 if 0 < positives < n else (tp + tn) / n,
                 "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0,
                 "baseline_accuracy": sum(yi == majority for yi in y) / n}
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
    verified = run([sys.executable, "-m", "faceattr.verify"], repo).stdout  # make verify's check, here and now
    assert "verify: bit-identical" in verified and "data stages: byte-identical" in verified


def test_forced_repro_is_byte_identical(repo):
    lock_before = (repo / "dvc.lock").read_text()
    run(["dvc", "repro", "-f"], repo)
    changed = run(["git", "status", "--porcelain", "dvc.lock", "metrics", "plots/train_history.csv",
                   "plots/predictions.csv", "data"], repo).stdout
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
    for rel in ["models/model.pt", "data/processed/labels.csv", "data/raw/synthetic/img_align_celeba.zip",
                "data/processed/partitions/list_partition_60.txt", "metrics/eval.json", "plots/train_history.csv"]:
        assert (fresh / rel).read_bytes() == (repo / rel).read_bytes(), rel
    assert sorted(p.name for p in (fresh / "data/interim/img_align_celeba").iterdir()) == \
        sorted(p.name for p in (repo / "data/interim/img_align_celeba").iterdir())
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
    assert {"eval.json", "training_curves.png", "roc_curves.png", "explain", "explain.json",
            "test_per_attribute.json"} <= artifacts
    assert not [k for k in r.data.metrics if ".per_attribute." in k]  # per-attribute figures are a table
    table_dir = repo.parent / "mlflow-table"
    table_dir.mkdir(exist_ok=True)
    table = json.loads(Path(client.download_artifacts(r.info.run_id, "test_per_attribute.json",
                                                      str(table_dir))).read_text())
    assert table["columns"][0] == "attribute" and len(table["data"]) == 10
    explained = {a.path for a in client.list_artifacts(r.info.run_id, "explain")}
    assert "explain/Eyeglasses.png" in explained and len(explained) == 10
    assert (repo / "mlruns").is_dir()  # artifacts beside mlflow.db at the repo root


def test_experiment_alpha_quarter(repo):
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
    mlflow.set_tracking_uri(f"sqlite:///{repo / 'mlflow.db'}")
    model = mlflow.pytorch.load_model(f"runs:/{q.info.run_id}/model")
    with torch.no_grad():
        assert model(torch.zeros(3, 3, 32, 32)).shape == (3, 10)



def test_going_back_to_the_defaults_restores_from_the_run_cache_and_make_exp_names_runs(repo):
    """After `dvc exp run -S alpha=0.25` in the workspace, `git checkout params.yaml && dvc repro` restores the
    default model, metrics and plots from DVC's run cache instead of retraining; `make exp` (faceattr.experiment)
    names its run after what it sets, and `make show` (faceattr.show) fits a 160-column terminal."""
    import hashlib

    lock = yaml.safe_load(run(["git", "show", "HEAD:dvc.lock"], repo).stdout)
    committed = {o["path"]: o["md5"] for o in lock["stages"]["train"]["outs"]}
    run(["git", "checkout", "--", "params.yaml"], repo)
    out = run(["dvc", "repro"], repo)
    assert "Running stage 'train'" not in out.stdout and "Running stage 'evaluate'" not in out.stdout, out.stdout
    assert "Stage 'train' is cached - skipping run, checking out outputs" in out.stdout
    assert hashlib.md5((repo / "models/model.pt").read_bytes()).hexdigest() == committed["models/model.pt"]
    assert run(["git", "status", "--porcelain", "dvc.lock", "metrics", "plots"], repo).stdout == ""

    made = run([sys.executable, "-m", "faceattr.experiment", "alpha=0.25", "--temp"], repo)
    assert "Running stage 'train'" not in made.stdout  # alpha 0.25 ran before: restored too
    names = [r.get("name") for b in json.loads(run(["dvc", "exp", "show", "--json"], repo).stdout)
             for e in (b.get("experiments") or []) for r in e.get("revs") or []]
    assert "a0p25-s60" in names
    table = run([sys.executable, "-m", "faceattr.show"], repo, env={"COLUMNS": "160"}).stdout
    assert "a0p25-s60" in table and "mean_balanced_accuracy" in table and "alpha" in table and "…" not in table
    assert max(len(line) for line in table.splitlines()) <= 160, table

def test_queued_experiment_logs_to_the_same_store(repo):
    """Queued runs execute in .dvc/tmp/exps/tmp*, which is deleted afterwards: the run must still land
    in the repo root's MLflow store, with its artifacts."""
    run(["dvc", "exp", "run", "--queue", "-S", "alpha=0.5", "-n", "queued-half"], repo)
    run(["dvc", "exp", "run", "--run-all"], repo)
    client, runs = mlflow_runs(repo)
    queued = [r for r in runs if r.data.params.get("alpha") == "0.5"]
    assert len(queued) == 1 and queued[0].info.run_name == "queued-half"
    assert "test.mean_accuracy" in queued[0].data.metrics
    assert {a.path for a in client.list_artifacts(queued[0].info.run_id)} >= {"eval.json", "roc_curves.png"}
    assert not list((repo / ".dvc" / "tmp" / "exps").glob("tmp*/mlflow.db"))


def test_two_queue_workers_lose_no_run_and_no_metric(repo):
    """Two queued experiments run at once (-j 2) and log to the one sqlite store concurrently."""
    for alpha in ("0.35", "0.75"):
        run(["dvc", "exp", "run", "--queue", "-S", f"alpha={alpha}"], repo)
    run(["dvc", "exp", "run", "--run-all", "-j", "2"], repo)
    client, runs = mlflow_runs(repo)
    for alpha in ("0.35", "0.75"):
        matching = [r for r in runs if r.data.params.get("alpha") == alpha]
        assert len(matching) == 1, alpha
        r = matching[0]
        assert r.info.status == "FINISHED"
        for key in ("train_loss", "val_loss", "val_acc"):
            assert [m.step for m in client.get_metric_history(r.info.run_id, key)] == [1, 2], (alpha, key)
        assert "test.mean_accuracy" in r.data.metrics and "train_seconds" in r.data.metrics


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
    revs = [r for b in shown for e in (b.get("experiments") or []) for r in e.get("revs") or []
            if r.get("name") == "two-processes"]
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
        run(["dvc", "exp", "run", "--temp", "-n", "distilled", "-S", 'train.teachers=["teacher.pt"]',
             "-S", "train.distill_weight=0.8"], repo)
    finally:
        teacher_sha = hashlib.sha256(teacher.read_bytes()).hexdigest()
        teacher.unlink()
    client, runs = mlflow_runs(repo)
    distilled = [r for r in runs if r.info.run_name == "distilled"]
    assert len(distilled) == 1
    r = distilled[0]
    assert r.data.params["train.teachers"] == "['teacher.pt']" and r.data.params["train.distill_weight"] == "0.8"
    assert r.data.tags["faceattr.teachers_sha256"] == hashlib.sha256(teacher_sha.encode()).hexdigest()
    baseline = [b for b in runs if b.data.params.get("alpha") == "1.0" and "faceattr.teachers_sha256" not in b.data.tags]
    assert baseline and r.data.tags["faceattr.model_sha256"] not in {b.data.tags["faceattr.model_sha256"] for b in baseline}


def test_faceattr_evaluate_gives_the_pipelines_figures(repo, tmp_path):
    """`faceattr evaluate` on the pipeline's test split, decided at the model's thresholds, gives the
    evaluate stage's metrics; `--tta` gives those of evaluate.tta_hflip (computed here in a scratch
    copy of the stage's outputs so the workspace stays as the fixture left it)."""
    import yaml

    params = yaml.safe_load((repo / "params.yaml").read_text())
    cli = ["faceattr", "evaluate", "--model", "models/model.pt", "--images", "data/interim/img_align_celeba",
           "--labels", "data/raw/synthetic/list_attr_celeba.txt",
           "--partition", f"data/processed/partitions/list_partition_{params['subset']}.txt", "--split", "2"]
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

    from faceattr.dataset import load_split, partition_path, read_partition_labels
    from faceattr.evaluation import evaluate, predict_probabilities
    from faceattr.metrics import majority_labels
    from faceattr.models import load_model
    from faceattr.pixels import PixelCache

    model, spec = load_model(repo / "models/model.pt")
    data = read_partition_labels(repo / "data/processed/labels.csv",
                                 partition_path(repo / "data/processed/partitions", params["subset"]))
    test = load_split(data, "test", PixelCache(repo / "data/processed/pixels"), spec.image_size)
    prob = predict_probabilities(model, spec, test.images, tta_hflip=True)  # what the stage computes with tta on
    expected = evaluate(spec.attributes, test.labels.numpy().astype(int), prob,
                        majority_labels(data.labels["train"].numpy()), spec.decision_thresholds()).metrics
    for key in ("mean_accuracy", "mean_balanced_accuracy"):
        assert tta[key] == pytest.approx(expected[key], abs=1e-6), key
    assert tta["mean_roc_auc"] == pytest.approx(expected["mean_roc_auc"], abs=0.05)


def test_quality_benchmark_reads_a_workspace_and_agrees_with_the_evaluate_stage(repo, tmp_path):
    """benchmarks/quality.py on the pipeline's workspace: at threshold 0.5 (the model's own here) its test
    accuracy and ROC-AUC are the evaluate stage's, and tuning on validation never lowers validation's
    balanced accuracy below the 0.5 thresholds' (it maximises it there)."""
    import sys

    out = tmp_path / "quality.json"
    run([sys.executable, str(Path(__file__).resolve().parents[1] / "benchmarks" / "quality.py"), str(repo),
         "--json", str(out)], repo)
    (found,) = json.loads(out.read_text())
    stage = json.loads((repo / "metrics/eval.json").read_text())
    assert found["test_images"] == len((repo / "plots/predictions.csv").read_text().splitlines()) - 1
    assert found["test"]["accuracy@0.5"] == pytest.approx(stage["mean_accuracy"], abs=1e-6)
    assert found["test"]["roc_auc"] == pytest.approx(stage["mean_roc_auc"], abs=1e-6)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import quality

    from faceattr.dataset import load_split, partition_path, read_partition_labels
    from faceattr.evaluation import predict_probabilities
    from faceattr.models import load_model
    from faceattr.pixels import PixelCache

    model, spec = load_model(repo / "models/model.pt")
    subset = yaml.safe_load((repo / "params.yaml").read_text())["subset"]
    data = read_partition_labels(repo / "data/processed/labels.csv", partition_path(repo / "data/processed/partitions", subset))
    val = load_split(data, "val", PixelCache(repo / "data/processed/pixels"), spec.image_size)
    half = [0.5] * len(spec.attributes)
    at_half = quality.figures(val.labels.numpy().astype(int), predict_probabilities(model, spec, val.images), half, half)
    assert found["val"]["accuracy@0.5"] == pytest.approx(at_half["accuracy@0.5"], abs=1e-9)
    assert found["val"]["balanced_accuracy"] >= at_half["balanced_accuracy"] - 1e-9
