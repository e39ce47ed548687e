"""DVC stage `evaluate`: test-split headline metrics (metrics/eval.json), the per-attribute table
(plots/per_attribute.json), predictions and ROC/confusion plot data."""

from faceattr.atomic import write_csv, write_json
from faceattr.config.paths import (
    CONFUSION_DIR,
    EVAL_METRICS,
    LABELS,
    MODEL,
    PARTITIONS_DIR,
    PER_ATTRIBUTE,
    PIXELS_DIR,
    PREDICTIONS,
    ROC_DIR,
)
from faceattr.config.schema import load_config
from faceattr.data.partition import partition_path
from faceattr.data.pixels import PixelCache
from faceattr.data.splits import load_split, read_partition_labels
from faceattr.device import select_device
from faceattr.digest import file_sha256
from faceattr.evaluate.evaluation import evaluate, headline, predict_probabilities, predictions_frame, write_plot_data
from faceattr.evaluate.metrics import majority_labels, per_attribute_records
from faceattr.model.model_file import load_model
from faceattr.pipeline.stage import run_stage
from faceattr.track import mlflow_runs


def main() -> None:
    cfg = load_config()
    device = select_device(cfg.train.device)  # where training ran; large batches on accelerators
    model, spec = load_model(MODEL, device)
    data = read_partition_labels(LABELS, partition_path(PARTITIONS_DIR, cfg.subset))
    attributes = spec.attributes
    cache = PixelCache(PIXELS_DIR)
    test = load_split(data, "test", cache, spec.image_size)
    prob = predict_probabilities(model, spec, test.images, device, tta_hflip=cfg.evaluate.tta_hflip)
    y_true = test.labels.numpy().astype(int)
    # the thresholds the train stage chose on the validation split (evaluate.* params) travel in the model
    result = evaluate(
        attributes, y_true, prob, majority_labels(data.labels["train"].numpy()), spec.decision_thresholds()
    )
    write_json(EVAL_METRICS, headline(result.metrics))
    rows = per_attribute_records(result.metrics)
    write_json(PER_ATTRIBUTE, rows)
    write_csv(PREDICTIONS, predictions_frame(data.ids["test"], attributes, prob, result.thresholds, y_true))
    write_plot_data(ROC_DIR, CONFUSION_DIR, attributes, y_true, prob, result.thresholds)

    m = result.metrics
    print(
        f"evaluate: {m['images']} test images, mean accuracy {m['mean_accuracy']:.4f} "
        f"(majority baseline {m['baseline_mean_accuracy']:.4f}), mean balanced accuracy {m['mean_balanced_accuracy']:.4f}"
    )
    for name, a in m["per_attribute"].items():
        print(
            f"  {name:<20} acc {a['accuracy']:.4f}  bal {a['balanced_accuracy']:.4f}  base {a['baseline_accuracy']:.4f}"
        )
    mlflow_runs.log_to_model_run(
        file_sha256(MODEL),
        {f"test.{k}": v for k, v in headline(m).items()},
        [EVAL_METRICS, PREDICTIONS],
        cfg.as_dict(),
        tables={"test_per_attribute.json": rows},
    )


if __name__ == "__main__":
    run_stage(main)
