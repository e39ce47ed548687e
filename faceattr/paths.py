"""Where each stage reads and writes, in one place (dvc.yaml names the same paths)."""

from pathlib import Path

RAW_SYNTHETIC = Path("data/raw/synthetic")
IMAGES_DIR = Path("data/interim/img_align_celeba")
UNZIP_REPORT = Path("data/interim/unzip_report.json")
LABELS = Path("data/processed/labels.csv")
LABEL_REPORT = Path("data/processed/label_report.json")
PARTITIONS_DIR = Path("data/processed/partitions")
PARTITION_REPORT = Path("data/processed/partition_report.json")
PIXELS_DIR = Path("data/processed/pixels")
MODEL = Path("models/model.pt")
CHECKPOINTS_DIR = Path("models/checkpoints")
TRAIN_METRICS = Path("metrics/train.json")
EVAL_METRICS = Path("metrics/eval.json")
PER_ATTRIBUTE = Path("plots/per_attribute.json")  # the per-attribute table (not DVC metrics: 9 columns each)
TRAIN_HISTORY = Path("plots/train_history.csv")
PREDICTIONS = Path("plots/predictions.csv")
ROC_DIR = Path("plots/roc")
CONFUSION_DIR = Path("plots/confusion")
SYNTHETIC_SAMPLES_PNG = Path("plots/synthetic_samples.png")
TRAINING_CURVES_PNG = Path("plots/training_curves.png")
ACCURACY_PNG = Path("plots/per_attribute_accuracy.png")
ROC_PNG = Path("plots/roc_curves.png")
CONFUSION_PNG = Path("plots/confusion_matrices.png")
LABEL_DISTRIBUTION_PNG = Path("plots/label_distribution.png")
PARAMS_CHECKED = Path("data/params_checked.txt")
EXPLAIN_DIR = Path("plots/explain")
EXPLAIN_METRICS = Path("metrics/explain.json")
HEAT_IN_BOX = Path("plots/heat_in_box.json")  # per attribute and layer (metrics/explain.json: the means)

# Every output of every stage (each stage sweeps their stale temporaries as it starts).
OUTPUTS = (RAW_SYNTHETIC, IMAGES_DIR, UNZIP_REPORT, LABELS, LABEL_REPORT, PARTITIONS_DIR, PARTITION_REPORT,
           PIXELS_DIR, MODEL, TRAIN_METRICS, EVAL_METRICS, PER_ATTRIBUTE, TRAIN_HISTORY, PREDICTIONS, ROC_DIR,
           CONFUSION_DIR, SYNTHETIC_SAMPLES_PNG, TRAINING_CURVES_PNG, ACCURACY_PNG, ROC_PNG, CONFUSION_PNG,
           LABEL_DISTRIBUTION_PNG, PARAMS_CHECKED, CHECKPOINTS_DIR / "last.pt", EXPLAIN_DIR, EXPLAIN_METRICS, HEAT_IN_BOX)
