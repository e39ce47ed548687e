"""PNG figures for people (DVC renders the CSV plots itself; these work offline and in MLflow)."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.metrics import roc_curve  # noqa: E402

from faceattr.atomic import atomic_path  # noqa: E402


def save_figure(fig, path: str | Path) -> None:
    """Write a figure as PNG atomically, without a version stamp (stable bytes), and close it."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)


def training_curves(history: pd.DataFrame, path: str | Path) -> None:
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    for split, style in (("train", "-"), ("val", "--")):
        ax_loss.plot(history["epoch"], history[f"{split}_loss"], style, marker="o", label=split)
        ax_acc.plot(history["epoch"], history[f"{split}_acc"], style, marker="o", label=split)
    ax_loss.set(title="BCE loss", xlabel="epoch", ylabel="loss")
    ax_acc.set(title="Mean accuracy over attributes", xlabel="epoch", ylabel="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    save_figure(fig, path)


def per_attribute_accuracy(per_attribute: Mapping[str, Mapping[str, float]], path: str | Path) -> None:
    names = list(per_attribute)
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(names) + 2), 4.5))
    ax.bar(x - 0.2, [per_attribute[n]["accuracy"] for n in names], 0.4, label="model")
    ax.bar(x + 0.2, [per_attribute[n]["baseline_accuracy"] for n in names], 0.4, label="majority baseline")
    ax.set_xticks(x, names, rotation=60, ha="right")
    ax.set(ylim=(0, 1.02), ylabel="test accuracy", title="Per-attribute test accuracy")
    ax.legend(loc="lower right")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path)


def roc_curves(predictions: pd.DataFrame, attributes: Sequence[str], path: str | Path) -> None:
    fig, ax = plt.subplots(figsize=(6.5, 6))
    for name in attributes:
        y = predictions[f"{name}_true"].to_numpy()
        if len(np.unique(y)) < 2:
            continue
        fpr, tpr, _ = roc_curve(y, predictions[f"{name}_prob"].to_numpy())
        ax.plot(fpr, tpr, label=name, linewidth=1.2)
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="Test ROC per attribute")
    ax.legend(fontsize=7, loc="lower right", ncol=2 if len(attributes) > 12 else 1)
    fig.tight_layout()
    save_figure(fig, path)


def label_distribution(rates: pd.DataFrame, path: str | Path) -> None:
    """`rates`: index = attributes, columns = splits, values = positive rate."""
    x = np.arange(len(rates.index))
    width = 0.8 / max(1, len(rates.columns))
    fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(x) + 2), 4.5))
    for k, split in enumerate(rates.columns):
        ax.bar(x + (k - (len(rates.columns) - 1) / 2) * width, rates[split], width, label=split)
    ax.set_xticks(x, rates.index, rotation=60, ha="right")
    ax.set(ylim=(0, 1), ylabel="positive rate", title="Label distribution per split")
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path)
