"""PNG figures for people (DVC renders the CSV plots itself; these work offline and in MLflow)."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from sklearn.metrics import auc, roc_curve  # noqa: E402

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


# Columns of per_attribute_scores, in the order they are drawn.
SCORE_COLUMNS = ("balanced_accuracy", "f1", "accuracy", "baseline_accuracy")


def per_attribute_scores(per_attribute: Mapping[str, Mapping[str, float]]) -> pd.DataFrame:
    """What per_attribute_accuracy draws: one row per attribute, worst balanced accuracy first.

    Balanced accuracy and F1, not plain accuracy: an attribute the model never predicts scores its
    majority-class rate in accuracy (Mustache: 0.96) but 0.5 in balanced accuracy and 0 in F1.
    Ties are broken by name, so the order (and the PNG) is deterministic.
    """
    rows = [
        {"attribute": name, **{c: float(fields[c]) for c in SCORE_COLUMNS}} for name, fields in per_attribute.items()
    ]
    frame = pd.DataFrame(rows, columns=["attribute", *SCORE_COLUMNS])
    return frame.sort_values(["balanced_accuracy", "attribute"], kind="mergesort").set_index("attribute")


def per_attribute_accuracy_figure(per_attribute: Mapping[str, Mapping[str, float]]) -> Figure:
    """Horizontal bars (40 attributes stay readable): balanced accuracy and F1 per attribute, the majority
    baseline's balanced accuracy (0.5) as a line, and plain accuracy beside the baseline's on the right."""
    scores = per_attribute_scores(per_attribute)
    y = np.arange(len(scores))
    fig, ax = plt.subplots(figsize=(9, max(3.5, 0.32 * len(scores) + 1.6)))
    ax.barh(y - 0.2, scores["balanced_accuracy"], 0.4, label="balanced accuracy", color="tab:blue")
    ax.barh(y + 0.2, scores["f1"], 0.4, label="F1", color="tab:orange")
    ax.axvline(0.5, color="black", linestyle="--", linewidth=1, label="majority baseline (balanced accuracy 0.5)")
    ax.set_yticks(y, scores.index)
    ax.set(
        xlim=(0, 1.02),
        ylim=(len(scores) - 0.5, -0.5),
        xlabel="test score",
        title="Per-attribute test balanced accuracy and F1 (worst first)",
    )
    right = ax.twinx()  # plain accuracy against the majority baseline's, so a never-predicted attribute shows
    right.set_ylim(ax.get_ylim())
    right.set_yticks(
        y,
        [f"acc {a:.3f} / baseline {b:.3f}" for a, b in zip(scores["accuracy"], scores["baseline_accuracy"])],
        fontsize=8,
    )
    ax.grid(axis="x", alpha=0.3)
    fig.legend(*ax.get_legend_handles_labels(), loc="lower center", ncol=3, fontsize=8)
    fig.tight_layout(rect=(0, 0.45 / fig.get_figheight(), 1, 1))
    return fig


def per_attribute_accuracy(per_attribute: Mapping[str, Mapping[str, float]], path: str | Path) -> None:
    save_figure(per_attribute_accuracy_figure(per_attribute), path)


def _line_styles(count: int) -> list[tuple[tuple[float, float, float, float], str]]:
    """Colour and dash per line: tab20's colours, then dashed, so 40 attributes stay distinguishable."""
    colours = plt.get_cmap("tab20").colors
    return [(colours[k % 20], ("-", "--", ":")[(k // 20) % 3]) for k in range(count)]


def roc_curves_figure(predictions: pd.DataFrame, attributes: Sequence[str]) -> Figure:
    """Test ROC per attribute; each legend entry carries the attribute's AUC ("Male (AUC 0.97)")."""
    many = len(attributes) > 12
    fig, ax = plt.subplots(figsize=(10.5 if many else 6.5, 6.5 if many else 6))
    for name, (colour, dash) in zip(attributes, _line_styles(len(attributes))):
        y = predictions[f"{name}_true"].to_numpy()
        if len(np.unique(y)) < 2:
            continue
        fpr, tpr, _ = roc_curve(y, predictions[f"{name}_prob"].to_numpy())
        ax.plot(fpr, tpr, label=f"{name} (AUC {auc(fpr, tpr):.2f})", linewidth=1.2, color=colour, linestyle=dash)
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="Test ROC per attribute")
    if many:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1), ncol=2, borderaxespad=0)
    else:
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def roc_curves(predictions: pd.DataFrame, attributes: Sequence[str], path: str | Path) -> None:
    save_figure(roc_curves_figure(predictions, attributes), path)


def confusion_counts(actual: Sequence[int] | np.ndarray, predicted: Sequence[int] | np.ndarray) -> np.ndarray:
    """2×2 counts, rows = actual (0, 1), columns = predicted (0, 1)."""
    actual = np.asarray(actual, dtype=int)
    predicted = np.asarray(predicted, dtype=int)
    return np.array([[int(np.sum((actual == a) & (predicted == p))) for p in (0, 1)] for a in (0, 1)])


def confusion_figure(
    matrices: Mapping[str, np.ndarray],
    thresholds: Mapping[str, float] | None = None,
    title: str = "Test confusion matrices",
) -> Figure:
    """One small 2×2 matrix per attribute: counts and row-normalised rates (the recall of each class), so a
    rare attribute's misses show even when they are few; the attribute's threshold is in its title."""
    names = list(matrices)
    cols = min(5, max(1, len(names)))
    rows = max(1, -(-len(names) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(2.3 * cols, 2.6 * rows + 0.5), squeeze=False)
    for ax in axes.flat[len(names) :]:
        ax.axis("off")
    for ax, name in zip(axes.flat, names):
        counts = np.asarray(matrices[name], dtype=float)
        totals = counts.sum(axis=1, keepdims=True)
        rates = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
        ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
        for a in (0, 1):
            for p in (0, 1):
                ax.text(
                    p,
                    a,
                    f"{int(counts[a, p])}\n{rates[a, p]:.0%}",
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if rates[a, p] > 0.6 else "black",
                )
        ax.set_xticks([0, 1], ["0", "1"], fontsize=7)
        ax.set_yticks([0, 1], ["0", "1"], fontsize=7)
        ax.set_xlabel("predicted", fontsize=7, labelpad=1)
        ax.set_ylabel("actual", fontsize=7, labelpad=1)
        label = name if thresholds is None or name not in thresholds else f"{name} (t={thresholds[name]:.2f})"
        ax.set_title(label, fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def confusion_matrices(
    predictions: pd.DataFrame, attributes: Sequence[str], thresholds: Mapping[str, float], path: str | Path
) -> None:
    """From predictions.csv's `<name>_true` and `<name>_pred` (decided at the model's thresholds)."""
    matrices = {name: confusion_counts(predictions[f"{name}_true"], predictions[f"{name}_pred"]) for name in attributes}
    save_figure(confusion_figure(matrices, thresholds), path)


def compare_curves_figure(histories: Mapping[str, pd.DataFrame]) -> Figure:
    """Training curves of several revisions overlaid, one colour per revision: train and val loss side by
    side with one y range, likewise mean accuracy, so panels of the same quantity compare at a glance."""
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5), sharex=True, sharey="row", squeeze=False)
    colours = plt.get_cmap("tab10").colors
    for k, (rev, history) in enumerate(histories.items()):
        for row, quantity in enumerate(("loss", "acc")):
            for col, split in enumerate(("train", "val")):
                axes[row, col].plot(
                    history["epoch"],
                    history[f"{split}_{quantity}"],
                    marker="o",
                    markersize=3,
                    color=colours[k % 10],
                    linestyle="-" if k < 10 else "--",
                    label=rev,
                )
    for col, split in enumerate(("train", "val")):
        axes[0, col].set(title=f"{split} BCE loss", ylabel="loss" if col == 0 else None)
        axes[1, col].set(title=f"{split} mean accuracy", xlabel="epoch", ylabel="accuracy" if col == 0 else None)
    for ax in axes.flat:
        ax.grid(alpha=0.3)
    axes[0, 1].legend(fontsize=8)
    fig.tight_layout()
    return fig


def compare_curves(histories: Mapping[str, pd.DataFrame], path: str | Path) -> None:
    save_figure(compare_curves_figure(histories), path)


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
