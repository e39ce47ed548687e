"""Where each stage reads and writes: faceattr/config/paths.yaml's list (which dvc.yaml reads too), as constants."""

from pathlib import Path

import yaml

PATHS_FILE = Path(__file__).with_name("paths.yaml")
_PATHS: dict[str, str] = yaml.safe_load(PATHS_FILE.read_text(encoding="utf-8"))["paths"]


def _path(key: str) -> Path:
    return Path(_PATHS[key])


RAW_SYNTHETIC = _path("raw_synthetic")
IMAGES_DIR = _path("images_dir")
UNZIP_REPORT = _path("unzip_report")
LABELS = _path("labels")
LABEL_REPORT = _path("label_report")
PARTITIONS_DIR = _path("partitions_dir")
PARTITION_REPORT = _path("partition_report")
PIXELS_DIR = _path("pixels_dir")
MODEL = _path("model")
CHECKPOINTS_DIR = _path("checkpoints_dir")
TRAIN_METRICS = _path("train_metrics")
EVAL_METRICS = _path("eval_metrics")
PER_ATTRIBUTE = _path("per_attribute")
TRAIN_HISTORY = _path("train_history")
PREDICTIONS = _path("predictions")
ROC_DIR = _path("roc_dir")
CONFUSION_DIR = _path("confusion_dir")
SYNTHETIC_SAMPLES_PNG = _path("synthetic_samples_png")
TRAINING_CURVES_PNG = _path("training_curves_png")
ACCURACY_PNG = _path("accuracy_png")
ROC_PNG = _path("roc_png")
CONFUSION_PNG = _path("confusion_png")
LABEL_DISTRIBUTION_PNG = _path("label_distribution_png")
PARAMS_CHECKED = _path("params_checked")
EXPLAIN_DIR = _path("explain_dir")
EXPLAIN_METRICS = _path("explain_metrics")
HEAT_IN_BOX = _path("heat_in_box")

# Every output of every stage (each stage sweeps their stale temporaries as it starts).
OUTPUTS = (
    RAW_SYNTHETIC,
    IMAGES_DIR,
    UNZIP_REPORT,
    LABELS,
    LABEL_REPORT,
    PARTITIONS_DIR,
    PARTITION_REPORT,
    PIXELS_DIR,
    MODEL,
    TRAIN_METRICS,
    EVAL_METRICS,
    PER_ATTRIBUTE,
    TRAIN_HISTORY,
    PREDICTIONS,
    ROC_DIR,
    CONFUSION_DIR,
    SYNTHETIC_SAMPLES_PNG,
    TRAINING_CURVES_PNG,
    ACCURACY_PNG,
    ROC_PNG,
    CONFUSION_PNG,
    LABEL_DISTRIBUTION_PNG,
    PARAMS_CHECKED,
    CHECKPOINTS_DIR / "last.pt",
    EXPLAIN_DIR,
    EXPLAIN_METRICS,
    HEAT_IN_BOX,
)
