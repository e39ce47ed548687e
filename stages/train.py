"""DVC stage `train`: fit the model on the chosen subset, save models/model.pt, log the run to MLflow.

With `train.processes: N` > 1 it starts itself N times under torchrun (DistributedDataParallel); process 0
writes the outputs and the MLflow run.
"""

import contextlib
import os
import sys

import pandas as pd

from faceattr.atomic import write_csv, write_json
from faceattr.config.paths import (
    CHECKPOINTS_DIR,
    LABELS,
    MODEL,
    PARTITIONS_DIR,
    PIXELS_DIR,
    TRAIN_HISTORY,
    TRAIN_METRICS,
)
from faceattr.config.schema import load_config
from faceattr.data.partition import partition_path
from faceattr.data.pixels import PixelCache
from faceattr.data.splits import load_split, read_partition_labels
from faceattr.device import select_device
from faceattr.evaluate.evaluation import operating_thresholds
from faceattr.model.model_file import save_model
from faceattr.pipeline.stage import run_stage
from faceattr.track import mlflow_runs
from faceattr.track.model_logging import log_model
from faceattr.train import distributed
from faceattr.train.checkpoints import lock_checkpoints
from faceattr.train.loop import fit


def main() -> None:
    params = load_config()
    cfg = params.training()
    w = distributed.world()
    if distributed.LAUNCHED not in os.environ and w.is_main:  # the launcher, a lone trainer or torchrun's rank 0
        lock = lock_checkpoints(CHECKPOINTS_DIR)
        if cfg.train.processes > 1 and not w.distributed:
            sys.exit(distributed.launch(cfg.train.processes, "stages.train", pass_fds=[lock]))
    partition_file = partition_path(PARTITIONS_DIR, params.subset)
    data = read_partition_labels(LABELS, partition_file)
    cache = PixelCache(PIXELS_DIR)
    train = load_split(data, "train", cache, cfg.train.image_size)
    val = load_split(data, "val", cache, cfg.train.image_size)
    if not w.is_main:
        fit(cfg, data.attributes, train, val, CHECKPOINTS_DIR)
        return
    t = cfg.train
    print(
        f"train: {len(train.images)} train / {len(val.images)} val images at {t.image_size[0]}×{t.image_size[1]}, "
        f"{len(data.attributes)} attributes, {cfg.model.arch} alpha {cfg.alpha}"
        f"{f', {t.processes} processes' if t.processes > 1 else ''}"
        f"{f', distilled from {len(t.teachers)} teacher(s) at weight {t.distill_weight}' if t.teachers else ''}"
    )

    with contextlib.ExitStack() as stack:
        runs: list = []  # the MLflow run, once fit has started it

        def start_tracking(resumed_run_id: str | None, history: list[dict], abandoned_run_id: str | None) -> str:
            """Resume the interrupted run's MLflow run (or a new one holding its epochs) once fit has read the checkpoint."""
            run = mlflow_runs.resume_or_start_run(
                params.as_dict(), {"subset": str(params.subset)}, resumed_run_id, history, abandoned_run_id
            )
            stack.enter_context(run)
            runs.append(run)
            return run.info.run_id

        result = fit(
            cfg, data.attributes, train, val, CHECKPOINTS_DIR, on_start=start_tracking, on_epoch=mlflow_runs.log_epoch
        )
        # the operating point travels with the model: evaluate, predict and serve decide with it
        device = select_device(cfg.train.device, w.local_rank)
        result.spec.thresholds = operating_thresholds(
            result.model.to(device), result.spec, val.images, val.labels.numpy(), device, params.evaluate
        )
        result.model.cpu()
        result.spec.extra["trained_on"] = str(params.data.dir)  # faceattr info, the synthetic-faces notice
        sha = save_model(MODEL, result.model, result.spec)
        write_csv(TRAIN_HISTORY, pd.DataFrame(result.history))
        best = result.history[result.best_epoch - 1]
        # two columns of `dvc metrics show`; every epoch's figures are in plots/train_history.csv
        write_json(TRAIN_METRICS, {"best_epoch": result.best_epoch, "best_val_loss": best["val_loss"]})
        version = log_model(
            params,
            cfg,
            result,
            sha,
            data,
            partition_file,
            model_file=MODEL,
            history_file=TRAIN_HISTORY,
            metrics_file=TRAIN_METRICS,
            labels_file=LABELS,
        )
    print(
        f"train: best epoch {result.best_epoch}, val loss {best['val_loss']:.4f}, val acc {best['val_acc']:.4f}; "
        f"{result.images_per_second:.0f} images/s on {result.device}{' (bf16)' if result.bf16 else ''}"
    )
    print(f"train: MLflow run {mlflow_runs.run_link(runs[-1])}")
    print(
        f"train: registered as models:/{mlflow_runs.REGISTERED_MODEL}/{version} "
        f"(`faceattr promote {runs[-1].info.run_id}` makes it models:/{mlflow_runs.REGISTERED_MODEL}@{mlflow_runs.CHAMPION})"
    )


if __name__ == "__main__":
    run_stage(main)
