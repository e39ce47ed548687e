"""Evaluation of a trained model on a labelled split: probabilities, thresholds, metrics and plot data."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from faceattr.atomic import atomic_dir, write_csv
from faceattr.config.schema import Evaluate
from faceattr.evaluate.inference import predict_logits
from faceattr.evaluate.metrics import evaluate_predictions, tune_thresholds
from faceattr.model.model_file import ModelSpec


@contextlib.contextmanager
def ieee_fp32(device: torch.device) -> Iterator[None]:
    """On CUDA, fp32 convolutions without TF32 (which PyTorch lets cuDNN use by default) for the duration."""
    if device.type != "cuda":
        yield
        return
    saved = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32 = saved


def predict_probabilities(
    model: nn.Module,
    spec: ModelSpec,
    images: torch.Tensor,
    device: torch.device | str = "cpu",
    tta_hflip: bool = False,
    bf16: bool = False,
) -> np.ndarray:
    """Sigmoid probabilities as float32, from a model already on `device` (load_model(path, device)).

    Evaluation keeps full precision (`bf16` off; no TF32 on CUDA) so metrics are exact and stable;
    `faceattr predict` may trade a little of it for speed. Batches: 16 images on the CPU, 256 on accelerators.
    """
    device = torch.device(device)
    with ieee_fp32(device):  # (under bf16 autocast the convolutions are bf16 anyway)
        logits = predict_logits(model, images, spec, device, bf16=bf16, tta_hflip=tta_hflip)
    return torch.sigmoid(logits).numpy()


@dataclass
class Evaluation:
    metrics: dict
    thresholds: list[float]


def evaluate(
    attributes: Sequence[str], y_true: np.ndarray, prob: np.ndarray, majority: np.ndarray, thresholds: Sequence[float]
) -> Evaluation:
    """Metrics at per-attribute thresholds (ModelSpec.decision_thresholds)."""
    thresholds = [float(t) for t in thresholds]
    return Evaluation(evaluate_predictions(attributes, y_true, prob, thresholds, majority), thresholds)


# What DVC and MLflow show as test metrics: five columns, so `dvc metrics show` fits a 160-column terminal
# with train's and explain's. The per-attribute table (9 figures × up to 40 attributes) goes to
# PER_ATTRIBUTE and an MLflow table; the image count is predictions.csv's length.
HEADLINE = ("mean_accuracy", "mean_balanced_accuracy", "mean_f1", "mean_roc_auc", "baseline_mean_accuracy")


def headline(metrics: dict) -> dict:
    """The headline figures of evaluate_predictions' result, in HEADLINE's order (missing ones left out)."""
    return {k: metrics[k] for k in HEADLINE if k in metrics}


def operating_thresholds(
    model: nn.Module,
    spec: ModelSpec,
    val_images: torch.Tensor,
    val_labels: np.ndarray,
    device: torch.device | str,
    evaluate: Evaluate,
) -> list[float]:
    """The thresholds a model ships with: `evaluate.threshold` for every attribute, or, with
    `evaluate.tune_thresholds`, each attribute's threshold that maximises `evaluate.threshold_objective` on
    the validation split, predicted as evaluation predicts (with or without the mirror-image average,
    `evaluate.tta_hflip`), so the test split never chooses them."""
    if not evaluate.tune_thresholds:
        return [float(evaluate.threshold)] * len(spec.attributes)
    prob = predict_probabilities(model, spec, val_images, device, tta_hflip=evaluate.tta_hflip)
    objective = evaluate.threshold_objective
    return [float(t) for t in tune_thresholds(np.asarray(val_labels).astype(int), prob, objective)]


def predictions_frame(
    ids: Sequence[str],
    attributes: Sequence[str],
    prob: np.ndarray,
    thresholds: Sequence[float],
    y_true: np.ndarray | None = None,
) -> pd.DataFrame:
    """Per image and attribute: probability, decision and (when known) the true label."""
    columns: dict[str, object] = {"image_id": list(ids)}
    for k, name in enumerate(attributes):
        columns[f"{name}_prob"] = np.round(prob[:, k], 6)
        columns[f"{name}_pred"] = (prob[:, k] >= thresholds[k]).astype(int)
        if y_true is not None:
            columns[f"{name}_true"] = y_true[:, k].astype(int)
    return pd.DataFrame(columns)


def write_plot_data(
    roc_dir: str | Path,
    confusion_dir: str | Path,
    attributes: Sequence[str],
    y_true: np.ndarray,
    prob: np.ndarray,
    thresholds: Sequence[float],
) -> None:
    """One ROC file (fpr, tpr) and one confusion file (actual, predicted) per attribute, for DVC's templates."""
    from sklearn.metrics import roc_curve  # here: `faceattr predict` imports this module and needs none of it

    with atomic_dir(roc_dir) as roc, atomic_dir(confusion_dir) as conf:
        for k, name in enumerate(attributes):
            if len(np.unique(y_true[:, k])) > 1:
                fpr, tpr, _ = roc_curve(y_true[:, k], prob[:, k])
                write_csv(roc / f"{name}.csv", pd.DataFrame({"fpr": np.round(fpr, 6), "tpr": np.round(tpr, 6)}))
            pred = (prob[:, k] >= thresholds[k]).astype(int)
            write_csv(conf / f"{name}.csv", pd.DataFrame({"actual": y_true[:, k].astype(int), "predicted": pred}))
