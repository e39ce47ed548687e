"""DVC stage `plots`: PNG figures of training, test scores, ROC, confusion matrices and label distribution.

They work offline (DVC's own HTML loads vega from a CDN) and are logged to the model's MLflow run.
"""

from __future__ import annotations

import pandas as pd

from faceattr.config.paths import (
    ACCURACY_PNG,
    CONFUSION_PNG,
    LABEL_DISTRIBUTION_PNG,
    LABELS,
    MODEL,
    PARTITIONS_DIR,
    PER_ATTRIBUTE,
    PREDICTIONS,
    ROC_PNG,
    TRAIN_HISTORY,
    TRAINING_CURVES_PNG,
)
from faceattr.config.schema import load_config
from faceattr.data.partition import partition_path, read_split_labels
from faceattr.digest import file_sha256
from faceattr.evaluate import figures
from faceattr.evaluate.metrics import read_per_attribute
from faceattr.pipeline.stage import run_stage
from faceattr.track import mlflow_runs


def main() -> None:
    cfg = load_config()
    per_attribute = read_per_attribute(PER_ATTRIBUTE)
    attributes = list(per_attribute)
    predictions = pd.read_csv(PREDICTIONS, dtype={"image_id": str})
    figures.training_curves(pd.read_csv(TRAIN_HISTORY), TRAINING_CURVES_PNG)
    figures.per_attribute_accuracy(per_attribute, ACCURACY_PNG)
    figures.roc_curves(predictions, attributes, ROC_PNG)
    thresholds = {name: float(fields["threshold"]) for name, fields in per_attribute.items()}
    figures.confusion_matrices(predictions, attributes, thresholds, CONFUSION_PNG)
    attributes, _, labels = read_split_labels(LABELS, partition_path(PARTITIONS_DIR, cfg.subset))
    rates = pd.DataFrame(
        {split: rows.mean(0) if len(rows) else 0.0 for split, rows in labels.items()}, index=attributes
    )
    figures.label_distribution(rates, LABEL_DISTRIBUTION_PNG)
    pngs = [TRAINING_CURVES_PNG, ACCURACY_PNG, ROC_PNG, CONFUSION_PNG, LABEL_DISTRIBUTION_PNG]
    mlflow_runs.log_to_model_run(file_sha256(MODEL), {}, pngs, cfg.as_dict())
    print("plots: " + ", ".join(map(str, pngs)))


if __name__ == "__main__":
    run_stage(main)
