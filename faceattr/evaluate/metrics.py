"""Per-attribute classification metrics (scikit-learn), the majority-class baseline, and thresholds."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from faceattr.config.choices import THRESHOLD_OBJECTIVES  # noqa: F401  (re-exported)
from faceattr.errors import FaceattrError


def majority_labels(train_labels: np.ndarray) -> np.ndarray:
    """Per attribute, the class (0/1) most common in the training labels (ties go to 0)."""
    return (train_labels.mean(axis=0) > 0.5).astype(np.uint8)


def attribute_metrics(y_true: np.ndarray, prob: np.ndarray, threshold: float, majority: int) -> dict[str, float]:
    """Accuracy, balanced accuracy, precision, recall, F1, ROC-AUC and the majority baseline for one attribute.

    ROC-AUC is left out when the split holds one class only (it is undefined there).
    """
    # scikit-learn here, not at the top: importing it takes 1.4 s that `faceattr predict` has no use for
    from sklearn.metrics import (
        accuracy_score,
        balanced_accuracy_score,
        f1_score,
        precision_score,
        recall_score,
        roc_auc_score,
    )

    pred = (prob >= threshold).astype(np.uint8)
    out = {
        "accuracy": accuracy_score(y_true, pred),
        "balanced_accuracy": balanced_accuracy_score(y_true, pred)
        if len(np.unique(y_true)) > 1
        else accuracy_score(y_true, pred),
        "precision": precision_score(y_true, pred, zero_division=0),
        "recall": recall_score(y_true, pred, zero_division=0),
        "f1": f1_score(y_true, pred, zero_division=0),
        "baseline_accuracy": float(np.mean(y_true == majority)),
        "threshold": threshold,
        "positive_rate": float(np.mean(y_true)),
    }
    if len(np.unique(y_true)) > 1:
        out["roc_auc"] = roc_auc_score(y_true, prob)
    return {k: round(float(v), 6) for k, v in out.items()}


def evaluate_predictions(
    attributes: Sequence[str], y_true: np.ndarray, prob: np.ndarray, thresholds: Sequence[float], majority: np.ndarray
) -> dict:
    """The metrics file: means over attributes at the top, then one block per attribute."""
    if y_true.shape != prob.shape or y_true.shape[1] != len(attributes):
        raise FaceattrError(
            f"labels {y_true.shape} and predictions {prob.shape} do not match {len(attributes)} attributes"
        )
    if len(y_true) == 0:
        raise FaceattrError("the evaluation split is empty")
    per = {
        a: attribute_metrics(y_true[:, k], prob[:, k], thresholds[k], int(majority[k]))
        for k, a in enumerate(attributes)
    }

    def mean(key: str) -> float:
        values = [m[key] for m in per.values() if key in m]
        return round(float(np.mean(values)), 6) if values else math.nan

    summary = {f"mean_{k}": mean(k) for k in ("accuracy", "balanced_accuracy", "precision", "recall", "f1", "roc_auc")}
    summary["baseline_mean_accuracy"] = mean("baseline_accuracy")
    summary["images"] = int(len(y_true))
    return {**{k: v for k, v in summary.items() if not math.isnan(v)}, "per_attribute": per}


def _candidate_scores(y: np.ndarray, p: np.ndarray, objective: str) -> tuple[np.ndarray, np.ndarray]:
    """Each candidate threshold (0.5 and every distinct probability, ascending) and the objective there.

    One sort and cumulative sums give, for every candidate c, the images predicted positive (p >= c) and the
    true positives among them. The scores are the float64 expressions scikit-learn evaluates on those counts,
    so they equal the direct definition's (tune_thresholds_bruteforce) bit for bit and ties break alike.
    """
    p = p.astype(np.float64)
    candidates = np.unique(np.concatenate([[0.5], p]))
    order = np.argsort(p, kind="stable")
    positives_below = np.concatenate([[0], np.cumsum(y[order] == 1)])  # positives among the i lowest
    below = np.searchsorted(p[order], candidates, side="left")  # images with p < c
    n, pos = len(p), int(positives_below[-1])
    predicted = n - below
    tp = pos - positives_below[below]
    tn = (n - pos) - (predicted - tp)
    if objective == "accuracy":
        return candidates, (tp + tn) / n
    if objective == "balanced_accuracy":  # the mean of the two class recalls
        return candidates, (tn / (n - pos) + tp / pos) / 2
    # F1 as sklearn computes it: (1 + beta²)·TP / (beta²·positives + predicted positives); positives > 0 here
    return candidates, 2.0 * tp.astype(np.float64) / (pos + predicted).astype(np.float64)


def tune_thresholds(y_true: np.ndarray, prob: np.ndarray, objective: str = "balanced_accuracy") -> list[float]:
    """Per attribute, the threshold (among the observed probabilities and 0.5) that maximises the objective,
    an image counting as positive when prob >= threshold; among equal scores, the one nearest 0.5 (of two
    equally near, the lower). O(n log n) per attribute. Labels are 0/1.

    Attributes with one class only in the tuning split keep 0.5: there is nothing to tune against.
    """

    def best(t: np.ndarray, p: np.ndarray, k: int) -> float:
        if np.isnan(p).any():
            raise FaceattrError(
                f"threshold tuning: the probabilities of attribute {k + 1} include NaN "
                f"(the model's outputs are not finite)"
            )
        candidates, score = _candidate_scores(t, p, objective)
        top = candidates[score == score.max()]
        return float(top[np.argmin(np.abs(top - 0.5))])

    return _per_attribute(y_true, prob, best)


def _per_attribute(
    y_true: np.ndarray, prob: np.ndarray, best: Callable[[np.ndarray, np.ndarray, int], float]
) -> list[float]:
    """`best(labels, probabilities, k)` per attribute k, rounded; 0.5 where the labels hold one class only."""
    return [
        round(best(y_true[:, k], prob[:, k], k), 6) if len(np.unique(y_true[:, k])) > 1 else 0.5
        for k in range(y_true.shape[1])
    ]


def tune_thresholds_bruteforce(
    y_true: np.ndarray, prob: np.ndarray, objective: str = "balanced_accuracy"
) -> list[float]:
    """tune_thresholds by its definition: scikit-learn scores every candidate over the whole split, O(n²).
    Slow; kept as the reference the fast version is tested and benchmarked against."""
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

    score = {
        "balanced_accuracy": balanced_accuracy_score,
        "accuracy": accuracy_score,
        "f1": lambda t, p: f1_score(t, p, zero_division=0),
    }[objective]

    def best(t: np.ndarray, p: np.ndarray, _k: int) -> float:
        candidates = np.unique(np.concatenate([[0.5], p]))
        return float(max(candidates, key=lambda c: (score(t, (p >= c).astype(np.uint8)), -abs(c - 0.5))))

    return _per_attribute(y_true, prob, best)


def per_attribute_records(metrics: dict) -> list[dict]:
    """evaluate_predictions' per-attribute block as a list of rows (attribute first): a table for DVC's
    plots (bar charts) and MLflow's `log_table`."""
    return [{"attribute": name, **figures} for name, figures in metrics["per_attribute"].items()]


def read_per_attribute(path: str | Path) -> dict[str, dict]:
    """The per-attribute table written by the evaluate stage, back as {attribute: figures}."""
    return {
        row["attribute"]: {k: v for k, v in row.items() if k != "attribute"}
        for row in json.loads(Path(path).read_text())
    }
