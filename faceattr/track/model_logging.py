"""The train stage's record of a trained model in MLflow: tags, the training dataset, the model itself
(with the faceattr model file beside it) and its version of the registered model `faceattr`.

MLflow and torchvision load inside `log_model`, so importing this module costs nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from faceattr.config.schema import Params, TrainConfig
from faceattr.data.splits import PartitionData
from faceattr.device import cpu_description
from faceattr.digest import file_sha256
from faceattr.model import pretrained
from faceattr.track import mlflow_runs
from faceattr.train.loop import FitResult


def log_model(
    params: Params,
    cfg: TrainConfig,
    result: FitResult,
    sha: str,
    data: PartitionData,
    partition_file: Path,
    *,
    model_file: Path,
    history_file: Path,
    metrics_file: Path,
    labels_file: Path,
) -> str:
    """Tag the active MLflow run, log the dataset and the model, and register it; the registered version.

    `model_file` (the faceattr model file, SHA-256 `sha`) rides along with MLflow's own model; the history and
    metrics files are attached as artifacts; the dataset is logged by the digest of `labels_file` and
    `partition_file`.
    """
    import mlflow
    import torchvision

    mlflow.set_tags(
        {
            mlflow_runs.MODEL_TAG: sha,
            "device": result.device,
            "bf16": str(result.bf16),
            "cpu": cpu_description(),
            "processes": str(cfg.train.processes),
        }
    )
    if cfg.train.teachers:
        mlflow.set_tag("faceattr.teachers_sha256", result.teachers_sha256)
    if cfg.model.pretrained:  # which weights it started from, by content
        mlflow.set_tag(
            "faceattr.pretrained_sha256", file_sha256(pretrained.resolve(cfg.model.weights, cfg.model.arch, cfg.alpha))
        )
    mlflow.log_metrics(
        {
            "train_seconds": result.seconds,
            "train_images_per_second": result.images_per_second,
            "best_epoch": result.best_epoch,
        }
    )
    example = np.zeros((2, 3, *cfg.train.image_size), dtype=np.float32)
    with torch.no_grad():
        output = result.model(torch.from_numpy(example)).numpy()
    data_dir = str(params.data.dir)
    digest = mlflow_runs.dataset_digest(labels_file, partition_file)
    mlflow_runs.log_training_dataset(
        f"{Path(data_dir).name}/{partition_file.name}", data_dir, digest, data.attributes, data.ids, data.labels
    )
    # the model file rides along (extra_files) so `faceattr … --model models:/faceattr@champion` gets the
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
        extra_files=[str(model_file)],
        registered_model_name=mlflow_runs.REGISTERED_MODEL,
    )
    version = mlflow_runs.register_logged_model(
        info,
        {
            mlflow_runs.MODEL_TAG: sha,
            mlflow_runs.DATASET_TAG: digest,
            "subset": str(params.subset),
            "dvc_exp_name": os.environ.get("DVC_EXP_NAME", ""),
            "git_commit": mlflow_runs.git_commit() or "",
        },
    )
    mlflow.log_artifact(str(history_file))
    mlflow.log_artifact(str(metrics_file))
    return version
