import numpy as np
import pytest

from faceattr.metrics import attribute_metrics, evaluate_predictions, majority_labels, tune_thresholds


def test_attribute_metrics_against_hand_computed_values():
    y = np.array([1, 1, 1, 0, 0, 0, 0, 0])
    p = np.array([0.9, 0.8, 0.3, 0.6, 0.2, 0.1, 0.4, 0.05])
    m = attribute_metrics(y, p, threshold=0.5, majority=0)
    # predictions: 1 1 0 1 0 0 0 0 → TP 2, FN 1, FP 1, TN 4
    assert m["accuracy"] == pytest.approx(6 / 8)
    assert m["precision"] == pytest.approx(2 / 3, abs=1e-6)
    assert m["recall"] == pytest.approx(2 / 3, abs=1e-6)
    assert m["f1"] == pytest.approx(2 / 3, abs=1e-6)
    assert m["balanced_accuracy"] == pytest.approx((2 / 3 + 4 / 5) / 2, abs=1e-6)
    assert m["baseline_accuracy"] == pytest.approx(5 / 8)
    # ROC-AUC: of 15 positive/negative pairs the positive scores higher in 13 (0.3 loses to 0.6 and 0.4)
    assert m["roc_auc"] == pytest.approx(13 / 15, abs=1e-6)


def test_single_class_split_has_no_roc_auc():
    m = attribute_metrics(np.zeros(4, int), np.array([0.1, 0.2, 0.7, 0.3]), 0.5, majority=0)
    assert "roc_auc" not in m and m["accuracy"] == 0.75


def test_evaluate_predictions_means_and_baseline():
    y = np.array([[1, 0], [1, 0], [0, 1], [1, 0]])
    p = np.array([[0.9, 0.1], [0.6, 0.7], [0.2, 0.8], [0.4, 0.2]])
    out = evaluate_predictions(["A", "B"], y, p, [0.5, 0.5], majority_labels(y))
    assert out["per_attribute"]["A"]["accuracy"] == 0.75 and out["per_attribute"]["B"]["accuracy"] == 0.75
    assert out["mean_accuracy"] == 0.75
    assert out["baseline_mean_accuracy"] == 0.75  # majority: A→1 (3/4), B→0 (3/4)
    assert out["images"] == 4


def test_tuned_threshold_separates_a_shifted_attribute():
    # All probabilities are below 0.5, but positives score higher: a tuned threshold finds the gap.
    y = np.array([[0], [0], [0], [1], [1]])
    p = np.array([[0.05], [0.1], [0.15], [0.3], [0.35]])
    (t,) = tune_thresholds(y, p, "balanced_accuracy")
    assert 0.15 < t <= 0.3
    assert attribute_metrics(y[:, 0], p[:, 0], t, 0)["accuracy"] == 1.0
    assert attribute_metrics(y[:, 0], p[:, 0], 0.5, 0)["accuracy"] == 0.6


def test_accuracy_and_balanced_accuracy_objectives_choose_differently():
    # A rare attribute (2 of 10 positive) with overlapping scores. Accuracy is best at 0.65 (one positive
    # missed, 9/10); balanced accuracy prefers 0.35, catching both positives at the cost of two false positives.
    y = np.array([[0], [0], [0], [0], [0], [0], [0], [0], [1], [1]])
    p = np.array([[0.1], [0.15], [0.2], [0.25], [0.3], [0.35], [0.4], [0.6], [0.37], [0.7]])
    (t_acc,) = tune_thresholds(y, p, "accuracy")
    (t_bal,) = tune_thresholds(y, p, "balanced_accuracy")
    assert attribute_metrics(y[:, 0], p[:, 0], t_acc, 0)["accuracy"] == 0.9
    assert t_acc == 0.7
    assert 0.35 < t_bal <= 0.37
    assert attribute_metrics(y[:, 0], p[:, 0], t_bal, 0)["balanced_accuracy"] > \
        attribute_metrics(y[:, 0], p[:, 0], t_acc, 0)["balanced_accuracy"]
