import numpy as np
import pytest

from faceattr.errors import FaceattrError
from faceattr.evaluate.metrics import (
    attribute_metrics,
    evaluate_predictions,
    majority_labels,
    tune_thresholds,
    tune_thresholds_bruteforce,
)


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
    assert (
        attribute_metrics(y[:, 0], p[:, 0], t_bal, 0)["balanced_accuracy"]
        > attribute_metrics(y[:, 0], p[:, 0], t_acc, 0)["balanced_accuracy"]
    )


def _random_case(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A small split of 1–4 attributes: few samples, probabilities often on a coarse grid (duplicates, values
    equally far from 0.5 on both sides, 0.5 itself), sometimes continuous float32; some columns all 0 or all 1."""
    n, attrs = int(rng.choice([1, 2, 3, 5, 8, 13, 21])), int(rng.integers(1, 5))
    kind = rng.integers(3)
    if kind == 0:
        prob = rng.integers(0, 9, (n, attrs)) / 8  # 0, 0.125, …, 1: many ties, symmetric pairs about 0.5
    elif kind == 1:
        prob = rng.choice([0.25, 0.5, 0.75, np.nextafter(0.5, 0), np.nextafter(0.5, 1)], (n, attrs))
    else:
        prob = rng.random((n, attrs))
    prob = prob.astype(rng.choice([np.float32, np.float64]))
    y = (rng.random((n, attrs)) < rng.random()).astype(int)
    for k in range(attrs):
        if rng.random() < 0.15:
            y[:, k] = rng.integers(2)  # constant labels
        elif rng.random() < 0.5:  # labels that follow the probabilities, so the best threshold is not trivial
            y[:, k] = (prob[:, k] + rng.normal(0, 0.3, n) > 0.5).astype(int)
    return y, prob


@pytest.mark.parametrize("objective", ["balanced_accuracy", "f1", "accuracy"])
def test_tuned_thresholds_match_the_bruteforce_definition(objective):
    rng = np.random.default_rng({"balanced_accuracy": 1, "f1": 2, "accuracy": 3}[objective])
    compared = 0
    for _ in range(200):
        y, prob = _random_case(rng)
        assert tune_thresholds(y, prob, objective) == tune_thresholds_bruteforce(y, prob, objective), (y, prob)
        compared += sum(len(np.unique(y[:, k])) == 2 for k in range(y.shape[1]))
    assert compared > 250  # most columns had both classes, so were really tuned


def test_equal_scores_go_to_the_threshold_nearest_half_then_the_lower():
    # Every threshold in (0.25, 0.75] separates the classes: 0.5 itself wins over 0.75.
    y, p = np.array([[0], [1]]), np.array([[0.25], [0.75]])
    assert tune_thresholds(y, p) == tune_thresholds_bruteforce(y, p) == [0.5]
    # Balanced accuracy 0.75 at 0.25 (TPR 1, TNR 1/2) and at 0.75 (TPR 1/2, TNR 1), 0.5 at 0.5: of the two
    # equally near 0.5, the lower wins.
    y, p = np.array([[0], [1], [0], [1]]), np.array([[0.125], [0.25], [0.625], [0.75]])
    assert tune_thresholds(y, p) == tune_thresholds_bruteforce(y, p) == [0.25]


def test_nan_probabilities_are_a_clear_error():
    with pytest.raises(FaceattrError, match="attribute 2 include NaN"):
        tune_thresholds(np.array([[0, 0], [1, 1]]), np.array([[0.1, np.nan], [0.9, 0.8]]))
