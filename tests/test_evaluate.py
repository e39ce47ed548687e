"""The evaluate stage runs on the training device (train.device), in full fp32: run in-process on a small
generated split with an untrained model, so no training is needed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from helpers import REPO

from faceattr.device import select_device
from faceattr.evaluate.evaluation import ieee_fp32, predict_probabilities
from faceattr.evaluate.metrics import read_per_attribute
from faceattr.model.model_file import ModelSpec, build_model, load_model, save_model

OUTPUTS = ("metrics/eval.json", "plots/per_attribute.json", "plots/predictions.csv", "plots/roc", "plots/confusion")


def _outputs(root: Path) -> dict[str, bytes]:
    files = [root / o for o in OUTPUTS if (root / o).is_file()]
    files += [f for o in OUTPUTS if (root / o).is_dir() for f in sorted((root / o).iterdir())]
    return {str(f.relative_to(root)): f.read_bytes() for f in files}


def _evaluate(root: Path, device: str) -> None:
    from faceattr.pipeline.stage import run_stage
    from stages import evaluate

    params = yaml.safe_load((root / "params.yaml").read_text())
    params["train"]["device"] = device
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run_stage(evaluate.main)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """Inputs of the evaluate stage (labels, a partition, the pixel cache) made by the real stages from 40
    generated images, and an untrained model; the working directory is the project while the tests run."""
    from faceattr.data.archive import extract_images
    from faceattr.data.synth import generate_dataset
    from stages import clean_labels, partition, preprocess

    root = tmp_path_factory.mktemp("evaluate")
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params.update(
        subset=40,
        partition={**params["partition"], "sizes": [40]},
        train={**params["train"], "image_size": [32, 32]},
        evaluate={**params["evaluate"], "tune_thresholds": True},
    )
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
        generate_dataset(root / "data/raw/synthetic", count=40, seed=1, workers=1)
        report = extract_images("data/raw/synthetic/img_align_celeba.zip", "data/interim/img_align_celeba", 2**30)
        (root / "data/interim/unzip_report.json").write_text(json.dumps(report))
        for stage in (clean_labels, partition, preprocess):
            stage.main()
        torch.manual_seed(0)
        model = build_model("mobilenet_v2", len(params["labels"]["attributes"]), alpha=0.25)
        (root / "models").mkdir()
        save_model(
            root / "models/model.pt",
            model.eval(),
            ModelSpec("mobilenet_v2", 0.25, params["labels"]["attributes"], (32, 32)),
        )
        yield root


def test_explicit_cpu_and_auto_give_the_same_outputs_as_before(project):
    _evaluate(project, "cpu")
    on_cpu = _outputs(project)
    assert len(on_cpu) > 10
    # the CPU path is unchanged: the probabilities are those of the default predict_probabilities call
    from faceattr.data.partition import partition_path
    from faceattr.data.pixels import PixelCache
    from faceattr.data.splits import load_split, read_partition_labels

    model, spec = load_model("models/model.pt")
    data = read_partition_labels("data/processed/labels.csv", partition_path("data/processed/partitions", 40))
    test = load_split(data, "test", PixelCache("data/processed/pixels"), spec.image_size)
    expected = np.round(predict_probabilities(model, spec, test.images), 6)
    frame = pd.read_csv(project / "plots/predictions.csv")
    assert np.array_equal(frame[[f"{a}_prob" for a in spec.attributes]].to_numpy(), expected)

    _evaluate(project, "auto")
    if select_device("auto").type == "cpu":
        assert _outputs(project) == on_cpu
    else:  # evaluated on the accelerator, in fp32: the same probabilities up to rounding
        again = pd.read_csv(project / "plots/predictions.csv")
        assert np.allclose(again.filter(like="_prob").to_numpy(), frame.filter(like="_prob").to_numpy(), atol=1e-4)


@pytest.mark.skipif(torch.backends.mps.is_available(), reason="needs a machine without Apple MPS")
def test_unavailable_device_is_a_one_line_error_and_outputs_are_kept(project, capsys):
    _evaluate(project, "cpu")
    before = _outputs(project)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        _evaluate(project, "mps")
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == (
        "error: train.device: 'mps' was asked for but MPS is not available; use auto or cpu\n"
    )
    assert _outputs(project) == before


def test_ieee_fp32_turns_tf32_off_on_cuda_only_and_restores_it():
    saved = torch.backends.cudnn.allow_tf32
    try:
        torch.backends.cudnn.allow_tf32 = True
        with ieee_fp32(torch.device("cuda")):
            assert torch.backends.cudnn.allow_tf32 is False
        assert torch.backends.cudnn.allow_tf32 is True
        with ieee_fp32(torch.device("cpu")):
            assert torch.backends.cudnn.allow_tf32 is True
    finally:
        torch.backends.cudnn.allow_tf32 = saved


@pytest.mark.parametrize(
    "objective, tta, model_params", [("f1", True, {"head": "attention", "freeze": 2}), ("balanced_accuracy", False, {})]
)
def test_train_stage_tunes_thresholds_on_validation_and_evaluate_uses_them(project, objective, tta, model_params):
    """evaluate.tune_thresholds: the train stage chooses each attribute's threshold on the validation split
    (predicted as evaluation predicts, mirror images included when evaluate.tta_hflip) and stores them in
    the model; the evaluate stage decides the test split with them. The attention head with a partly
    frozen backbone goes through the same stages, and its MLflow model loads back."""
    import os
    import shutil
    import subprocess
    import sys

    from faceattr.data.partition import partition_path
    from faceattr.data.pixels import PixelCache
    from faceattr.data.splits import load_split, read_partition_labels
    from faceattr.evaluate.metrics import tune_thresholds
    from faceattr.pipeline.stage import run_stage
    from stages import evaluate

    def model_out(model_file: str, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return load_model(model_file)[0](x)

    def train() -> None:  # a process of its own: the stage holds the workspace's training lock while it lives
        done = subprocess.run(
            [sys.executable, "-m", "stages.train"],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        assert done.returncode == 0, done.stderr[-2000:]

    shutil.copy("models/model.pt", "untrained.pt")
    saved_params = Path("params.yaml").read_text()
    try:
        params = yaml.safe_load(saved_params)
        params["alpha"] = 0.25
        params["model"].update(model_params)
        if model_params:  # and from a weights file: the MLflow run names it by content
            torch.save(build_model("mobilenet_v2", 1000, 0.25).state_dict(), "start.pth")
            params["model"]["pretrained"] = str(Path("start.pth").resolve())
        params["train"].update(epochs=1, batch_size=8, threads=1, precision="fp32", device="cpu")
        params["evaluate"].update(tune_thresholds=True, threshold_objective=objective, tta_hflip=tta)
        Path("params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        train()
        model, spec = load_model("models/model.pt")
        data = read_partition_labels("data/processed/labels.csv", partition_path("data/processed/partitions", 40))
        val = load_split(data, "val", PixelCache("data/processed/pixels"), spec.image_size)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # as the stage ran (train.threads): the same sums in the same order
        try:
            prob = predict_probabilities(model, spec, val.images, tta_hflip=tta)
        finally:
            torch.set_num_threads(threads)
        expected = tune_thresholds(val.labels.numpy().astype(int), prob, objective)
        assert spec.thresholds == pytest.approx(expected), (spec.thresholds, expected)
        if model_params:
            import mlflow

            from faceattr.digest import file_sha256
            from faceattr.track import mlflow_runs

            run = mlflow_runs.find_run_for_model(file_sha256("models/model.pt"))
            assert run.data.params["model.head"] == model_params["head"]
            assert run.data.tags["faceattr.pretrained_sha256"] == file_sha256("start.pth")
            logged = mlflow.pytorch.load_model(f"runs:/{run.info.run_id}/model")
            x = torch.randn(2, 3, *spec.image_size)
            with torch.no_grad():
                assert torch.allclose(logged(x), model_out(model_file="models/model.pt", x=x), atol=1e-5)
        run_stage(evaluate.main)
        table = read_per_attribute("plots/per_attribute.json")
        assert [table[a]["threshold"] for a in spec.attributes] == pytest.approx(spec.thresholds)
        # with tuning off the model carries evaluate.threshold for every attribute
        params["evaluate"].update(tune_thresholds=False, threshold=0.3)
        Path("params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        train()
        assert load_model("models/model.pt")[1].thresholds == [0.3] * len(spec.attributes)
    finally:
        Path("params.yaml").write_text(saved_params)
        shutil.move("untrained.pt", "models/model.pt")
