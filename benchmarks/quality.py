"""Quality of trained workspaces on the identity split: the figures issue 18's targets are judged by.

For each workspace (a clone where `dvc exp run` or `dvc repro` ran a recipe), the model's probabilities
on the validation and test splits (mirror-image averaged when the workspace's evaluate.tta_hflip is on),
then on the test split: mean accuracy at 0.5, mean balanced accuracy at thresholds tuned on validation
for balanced accuracy, macro-F1 at thresholds tuned on validation for F1, mean ROC-AUC, and the training
time from the workspace's MLflow-free record (metrics/train.json and the train stage's log). The same
figures on validation are printed first: settings are chosen on those, never on test.
Several workspaces of one configuration (seeds) are summarised as mean ± standard deviation.

    python benchmarks/quality.py runs/ft-seed0 runs/ft-seed1 runs/ft-seed2 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import torch
import yaml

from faceattr.config.paths import LABELS, MODEL, PARTITIONS_DIR, PIXELS_DIR
from faceattr.data.partition import partition_path
from faceattr.data.pixels import PixelCache
from faceattr.data.splits import load_split, read_partition_labels
from faceattr.evaluate.evaluation import predict_probabilities
from faceattr.evaluate.metrics import tune_thresholds
from faceattr.model.model_file import load_model

FIGURES = ("accuracy@0.5", "balanced_accuracy", "macro_f1", "roc_auc")


def _mean_over_attributes(y: np.ndarray, pred: np.ndarray, what: str) -> float:
    from sklearn.metrics import balanced_accuracy_score, f1_score

    if what == "accuracy":
        return float((pred == y).mean())
    scores = []
    for k in range(y.shape[1]):
        if what == "balanced_accuracy":
            scores.append(
                balanced_accuracy_score(y[:, k], pred[:, k])
                if len(np.unique(y[:, k])) > 1
                else float((pred[:, k] == y[:, k]).mean())
            )
        else:
            scores.append(f1_score(y[:, k], pred[:, k], zero_division=0))
    return float(np.mean(scores))


def _auc(y: np.ndarray, prob: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(
        np.mean([roc_auc_score(y[:, k], prob[:, k]) for k in range(y.shape[1]) if len(np.unique(y[:, k])) > 1])
    )


def figures(y: np.ndarray, prob: np.ndarray, t_bal: list[float], t_f1: list[float]) -> dict[str, float]:
    return {
        "accuracy@0.5": _mean_over_attributes(y, (prob >= 0.5).astype(int), "accuracy"),
        "balanced_accuracy": _mean_over_attributes(y, (prob >= np.array(t_bal)).astype(int), "balanced_accuracy"),
        "macro_f1": _mean_over_attributes(y, (prob >= np.array(t_f1)).astype(int), "f1"),
        "roc_auc": _auc(y, prob),
    }


def measure(workspace: Path) -> dict:
    """Validation and test figures of one workspace's model."""
    params = yaml.safe_load((workspace / "params.yaml").read_text())
    cwd = os.getcwd()
    os.chdir(workspace)
    try:
        model, spec = load_model(MODEL)
        data = read_partition_labels(LABELS, partition_path(PARTITIONS_DIR, params["subset"]))
        cache = PixelCache(PIXELS_DIR)
        tta = bool(params["evaluate"]["tta_hflip"])
        split = {}
        for name in ("val", "test"):
            s = load_split(data, name, cache, spec.image_size)
            split[name] = (s.labels.numpy().astype(int), predict_probabilities(model, spec, s.images, tta_hflip=tta))
        train_record = json.loads(Path("metrics/train.json").read_text())
    finally:
        os.chdir(cwd)
    y_val, p_val = split["val"]
    t_bal, t_f1 = tune_thresholds(y_val, p_val, "balanced_accuracy"), tune_thresholds(y_val, p_val, "f1")
    return {
        "workspace": str(workspace),
        "val": figures(*split["val"], t_bal, t_f1),
        "test": figures(*split["test"], t_bal, t_f1),
        "test_images": len(split["test"][0]),
        "attributes": len(spec.attributes),
        "best_epoch": train_record.get("best_epoch"),
        "train_seconds": _train_seconds(workspace),
    }


def _train_seconds(workspace: Path) -> float | None:
    """The fit's wall time, from the MLflow database of the workspace (the train stage logs it)."""
    import sqlite3

    db = workspace / "mlflow.db"
    if not db.exists():
        return None
    with sqlite3.connect(db) as con:
        row = con.execute(
            "SELECT value FROM metrics WHERE key = 'train_seconds' ORDER BY timestamp DESC LIMIT 1"
        ).fetchone()
    return float(row[0]) if row else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workspaces", nargs="+", type=Path)
    parser.add_argument("--json", help="write every figure here")
    args = parser.parse_args()
    torch.set_num_threads(max(1, (os.cpu_count() or 1)))
    runs = [measure(w) for w in args.workspaces]
    for r in runs:
        line = "  ".join(f"{k} {r['val'][k]:.4f}/{r['test'][k]:.4f}" for k in FIGURES)
        secs = f"{r['train_seconds']:.0f} s" if r["train_seconds"] else "n/a"
        print(f"{r['workspace']}: val/test {line}; best epoch {r['best_epoch']}; training {secs}")
    if len(runs) > 1:
        for split in ("val", "test"):
            summary = "  ".join(
                f"{k} {np.mean([r[split][k] for r in runs]):.4f} ± {np.std([r[split][k] for r in runs], ddof=1):.4f}"
                for k in FIGURES
            )
            print(f"mean of {len(runs)} ({split}): {summary}")
    print(
        f"({runs[0]['test_images']} test images × {runs[0]['attributes']} attributes = "
        f"{runs[0]['test_images'] * runs[0]['attributes']} test decisions)"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(runs, indent=2))


if __name__ == "__main__":
    main()
