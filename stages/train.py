"""DVC stage `train`: fit the model on the chosen subset, save models/model.pt, log the run to MLflow.

With `train.processes: N` > 1 it starts itself N times under torchrun (DistributedDataParallel); process 0
writes the outputs and the MLflow run.
"""

import contextlib
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from faceattr.train import distributed

from faceattr.model import pretrained

from faceattr.track import runs as tracking
from faceattr.atomic import write_csv, write_json
from faceattr.config.schema import Params, load_config
from faceattr.data.splits import PartitionData, load_split, read_partition_labels
from faceattr.data.partition import partition_path
from faceattr.device import cpu_description, select_device
from faceattr.evaluate.evaluation import operating_thresholds
from faceattr.model.model_file import file_sha256, save_model
from faceattr.config.paths import (
    CHECKPOINTS_DIR,
    LABELS,
    MODEL,
    PARTITIONS_DIR,
    PIXELS_DIR,
    TRAIN_HISTORY,
    TRAIN_METRICS,
)
from faceattr.data.pixels import PixelCache
from faceattr.pipeline.stage import run_stage
from faceattr.train.loop import FitResult, TrainConfig, fit, lock_checkpoints


def main() -> None:
    params = load_config()
    cfg = params.training()
    w = distributed.world()
    if distributed.LAUNCHED not in os.environ and w.is_main:  # the launcher, a lone trainer or torchrun's rank 0
        lock = lock_checkpoints(CHECKPOINTS_DIR)
        if cfg.processes > 1 and not w.distributed:
            sys.exit(distributed.launch(cfg.processes, "stages.train", pass_fds=[lock]))
    partition_file = partition_path(PARTITIONS_DIR, params.subset)
    data = read_partition_labels(LABELS, partition_file)
    cache = PixelCache(PIXELS_DIR)
    train = load_split(data, "train", cache, cfg.image_size)
    val = load_split(data, "val", cache, cfg.image_size)
    if not w.is_main:
        fit(cfg, data.attributes, train, val, CHECKPOINTS_DIR)
        return
    print(
        f"train: {len(train.images)} train / {len(val.images)} val images at {cfg.image_size[0]}×{cfg.image_size[1]}, "
        f"{len(data.attributes)} attributes, {cfg.arch} alpha {cfg.alpha}"
        f"{f', {cfg.processes} processes' if cfg.processes > 1 else ''}"
        f"{f', distilled from {len(cfg.teachers)} teacher(s) at weight {cfg.distill_weight}' if cfg.teachers else ''}"
    )

    with contextlib.ExitStack() as stack:
        runs: list = []  # the MLflow run, once fit has started it

        def start_tracking(resumed_run_id: str | None, history: list[dict], abandoned_run_id: str | None) -> str:
            """Resume the interrupted run's MLflow run (or a new one holding its epochs) once fit has read the checkpoint."""
            run = tracking.resume_or_start_run(
                params.as_dict(), {"subset": str(params.subset)}, resumed_run_id, history, abandoned_run_id
            )
            stack.enter_context(run)
            runs.append(run)
            return run.info.run_id

        result = fit(
            cfg, data.attributes, train, val, CHECKPOINTS_DIR, on_start=start_tracking, on_epoch=tracking.log_epoch
        )
        # the operating point travels with the model: evaluate, predict and serve decide with it
        device = select_device(cfg.device, w.local_rank)
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
        version = log_model(params, cfg, result, sha, data, partition_file)
    print(
        f"train: best epoch {result.best_epoch}, val loss {best['val_loss']:.4f}, val acc {best['val_acc']:.4f}; "
        f"{result.images_per_second:.0f} images/s on {result.device}{' (bf16)' if result.bf16 else ''}"
    )
    print(f"train: MLflow run {tracking.run_link(runs[-1])}")
    print(
        f"train: registered as models:/{tracking.REGISTERED_MODEL}/{version} "
        f"(`faceattr promote {runs[-1].info.run_id}` makes it models:/{tracking.REGISTERED_MODEL}@{tracking.CHAMPION})"
    )


def log_model(
    params: Params, cfg: TrainConfig, result: FitResult, sha: str, data: PartitionData, partition_file: Path
) -> str:
    """Tag the active MLflow run, log the dataset and the model, and register it; the registered version."""
    import mlflow
    import torchvision

    mlflow.set_tags(
        {
            tracking.MODEL_TAG: sha,
            "device": result.device,
            "bf16": str(result.bf16),
            "cpu": cpu_description(),
            "processes": str(cfg.processes),
        }
    )
    if cfg.teachers:
        mlflow.set_tag("faceattr.teachers_sha256", result.teachers_sha256)
    if cfg.pretrained:  # which weights it started from, by content
        mlflow.set_tag(
            "faceattr.pretrained_sha256", file_sha256(pretrained.resolve(cfg.pretrained, cfg.arch, cfg.alpha))
        )
    mlflow.log_metrics(
        {
            "train_seconds": result.seconds,
            "train_images_per_second": result.images_per_second,
            "best_epoch": result.best_epoch,
        }
    )
    example = np.zeros((2, 3, *cfg.image_size), dtype=np.float32)
    with torch.no_grad():
        output = result.model(torch.from_numpy(example)).numpy()
    data_dir = str(params.data.dir)
    digest = tracking.dataset_digest(LABELS, partition_file)
    tracking.log_training_dataset(
        f"{Path(data_dir).name}/{partition_file.name}", data_dir, digest, data.attributes, data.ids, data.labels
    )
    # models/model.pt rides along (extra_files) so `faceattr … --model models:/faceattr@champion` gets the
    # faceattr model file, thresholds and all; every training is a new version of the registered model
    # The requirements are given, not inferred: inferring them reloads the model in a subprocess (9 s a run
    # here) and finds tqdm and pydot but not torchvision, whose classes the pickled model is made of.
    requirements = [
        *mlflow.pytorch.get_default_pip_requirements(),
        f"torchvision=={torchvision.__version__.split('+')[0]}",
    ]
    info = mlflow.pytorch.log_model(
        result.model,
        name="model",
        input_example=example,
        signature=mlflow.models.infer_signature(example, output),
        pip_requirements=requirements,
        extra_files=[str(MODEL)],
        registered_model_name=tracking.REGISTERED_MODEL,
    )
    version = tracking.register_logged_model(
        info,
        {
            tracking.MODEL_TAG: sha,
            tracking.DATASET_TAG: digest,
            "subset": str(params.subset),
            "dvc_exp_name": os.environ.get("DVC_EXP_NAME", ""),
            "git_commit": tracking.git_commit() or "",
        },
    )
    mlflow.log_artifact(str(TRAIN_HISTORY))
    mlflow.log_artifact(str(TRAIN_METRICS))
    return version


if __name__ == "__main__":
    run_stage(main)
