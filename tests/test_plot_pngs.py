"""The offline PNGs: the plots stage's figures (what they draw, that they are sound PNGs, byte-stable) and
`python -m faceattr.pipeline.compare_plots` on a tiny git + DVC repository with commits and an experiment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from helpers import DEFAULT_PARAMS
from PIL import Image

from faceattr.errors import FaceattrError
from faceattr.evaluate import figures
from faceattr.pipeline import compare_plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def assert_png(path: Path, min_size: tuple[int, int] = (400, 300)) -> None:
    assert path.read_bytes().startswith(PNG_MAGIC), path
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.size[0] >= min_size[0] and image.size[1] >= min_size[1], (path, image.size)


def scores(accuracy: float, balanced: float, f1: float, baseline: float, threshold: float = 0.5) -> dict:
    return {
        "accuracy": accuracy,
        "balanced_accuracy": balanced,
        "f1": f1,
        "baseline_accuracy": baseline,
        "roc_auc": 0.9,
        "precision": 0.5,
        "recall": 0.5,
        "positive_rate": 1 - baseline,
        "threshold": threshold,
    }


PER_ATTRIBUTE = {
    "Male": scores(0.97, 0.96, 0.95, 0.58, 0.4),
    "Mustache": scores(0.96, 0.5, 0.0, 0.96),  # never predicted: accuracy equals the baseline's
    "Smiling": scores(0.90, 0.90, 0.89, 0.52, 0.6),
}


def test_per_attribute_figure_draws_balanced_accuracy_and_f1_worst_first():
    table = figures.per_attribute_scores(PER_ATTRIBUTE)
    assert list(table.index) == ["Mustache", "Smiling", "Male"]
    fig = figures.per_attribute_accuracy_figure(PER_ATTRIBUTE)
    ax = fig.axes[0]
    bars = {c.get_label(): [p.get_width() for p in c.patches] for c in ax.containers}
    assert bars == {"balanced accuracy": [0.5, 0.90, 0.96], "F1": [0.0, 0.89, 0.95]}
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Mustache", "Smiling", "Male"]
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "majority baseline (balanced accuracy 0.5)" in legend and "balanced accuracy" in legend
    assert [line.get_xdata()[0] for line in ax.get_lines()] == [0.5]
    right = [t.get_text() for t in fig.axes[1].get_yticklabels()]
    assert right[0] == "acc 0.960 / baseline 0.960"
    assert ax.get_ylim() == fig.axes[1].get_ylim()  # the right-hand labels sit on their bars


def predictions(n: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    columns: dict[str, object] = {"image_id": [f"{i:06d}.jpg" for i in range(1, n + 1)]}
    for name, fields in PER_ATTRIBUTE.items():
        truth = (rng.random(n) < 1 - fields["baseline_accuracy"]).astype(int)
        truth[:2] = [0, 1]
        prob = np.clip(truth * 0.6 + rng.random(n) * 0.5, 0, 1).round(6)
        columns[f"{name}_prob"] = prob
        columns[f"{name}_pred"] = (prob >= fields["threshold"]).astype(int)
        columns[f"{name}_true"] = truth
    return pd.DataFrame(columns)


def test_roc_legend_carries_each_attributes_auc():
    from sklearn.metrics import roc_auc_score

    frame = predictions()
    fig = figures.roc_curves_figure(frame, list(PER_ATTRIBUTE))
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == [
        f"{name} (AUC {roc_auc_score(frame[f'{name}_true'], frame[f'{name}_prob']):.2f})" for name in PER_ATTRIBUTE
    ]


def test_confusion_counts_and_titles():
    assert figures.confusion_counts([0, 0, 1, 1, 1], [0, 1, 1, 1, 0]).tolist() == [[1, 1], [1, 2]]
    matrices = {"Male": np.array([[8, 2], [0, 5]]), "Mustache": np.array([[9, 0], [1, 0]])}
    fig = figures.confusion_figure(matrices, {"Male": 0.4, "Mustache": 0.5})
    assert [ax.get_title() for ax in fig.axes] == ["Male (t=0.40)", "Mustache (t=0.50)"]
    cells = sorted(t.get_text() for t in fig.axes[0].texts)
    assert cells == sorted(["8\n80%", "2\n20%", "0\n0%", "5\n100%"])  # counts and row-normalised rates


def write_stage_inputs(root: Path) -> None:
    """Small generated inputs of the plots stage, in its layout."""
    frame = predictions()
    ids = list(frame["image_id"])
    (root / "params.yaml").write_text(yaml.safe_dump(DEFAULT_PARAMS, sort_keys=False))
    for rel in ("metrics", "plots", "models", "data/processed/partitions"):
        (root / rel).mkdir(parents=True, exist_ok=True)
    (root / "plots/per_attribute.json").write_text(
        json.dumps([{"attribute": k, **v} for k, v in PER_ATTRIBUTE.items()])
    )
    frame.to_csv(root / "plots/predictions.csv", index=False)
    pd.DataFrame(
        {
            "epoch": [1, 2, 3],
            "train_loss": [0.6, 0.4, 0.3],
            "train_acc": [0.7, 0.8, 0.85],
            "val_loss": [0.65, 0.5, 0.45],
            "val_acc": [0.68, 0.75, 0.8],
            "lr": [0.01] * 3,
        }
    ).to_csv(root / "plots/train_history.csv", index=False)
    labels = pd.DataFrame({"image_id": ids, **{name: frame[f"{name}_true"] for name in PER_ATTRIBUTE}})
    labels.to_csv(root / "data/processed/labels.csv", index=False)
    (root / f"data/processed/partitions/list_partition_{DEFAULT_PARAMS['subset']}.txt").write_text(
        "".join(f"{image_id} {k % 3}\n" for k, image_id in enumerate(ids))
    )
    (root / "models/model.pt").write_bytes(b"not a model: only its hash is read here")


def test_plots_stage_writes_sound_stable_pngs(tmp_path, monkeypatch):
    import stages.plots as stage

    write_stage_inputs(tmp_path)
    monkeypatch.chdir(tmp_path)
    logged: list[list[Path]] = []
    monkeypatch.setattr(stage.mlflow_runs, "log_to_model_run", lambda sha, metrics, pngs, params: logged.append(pngs))
    stage.main()
    names = [
        "training_curves.png",
        "per_attribute_accuracy.png",
        "roc_curves.png",
        "confusion_matrices.png",
        "label_distribution.png",
    ]
    assert [p.name for p in logged[0]] == names
    first = {}
    for name in names:
        assert_png(tmp_path / "plots" / name)
        first[name] = (tmp_path / "plots" / name).read_bytes()
    stage.main()
    assert {name: (tmp_path / "plots" / name).read_bytes() for name in names} == first  # deterministic
    assert not list((tmp_path / "plots").glob(".*.tmp"))  # atomic writes leave no temporaries


def test_every_stage_png_is_a_declared_output_and_plot():
    from helpers import dvc_yaml

    dvc = dvc_yaml()
    # declared under the stage's plots (uncached files there, not in outs, keep DVC's run cache working)
    outs = {next(iter(o)) if isinstance(o, dict) else o for o in dvc["stages"]["plots"]["plots"]}
    assert "outs" not in dvc["stages"]["plots"]
    listed = {next(iter(p)) if isinstance(p, dict) else p for p in dvc["plots"]}
    for png in ("plots/confusion_matrices.png", "plots/per_attribute_accuracy.png", "plots/roc_curves.png"):
        assert png in outs and png in listed


# -- compare_plots on a tiny git + DVC repository ---------------------------------------------------------

MAKE = """\
import os, yaml
s = yaml.safe_load(open("params.yaml"))["scale"]
rows = ["epoch,train_loss,train_acc,val_loss,val_acc,lr"]
rows += [f"{e},{s / e:.4f},{1 - 0.1 * s / e:.4f},{1.2 * s / e:.4f},{1 - 0.15 * s / e:.4f},0.01" for e in (1, 2, 3)]
open("plots/train_history.csv", "w").write("\\n".join(rows) + "\\n")
os.makedirs("plots/confusion", exist_ok=True)
open("plots/confusion/Male.csv", "w").write("actual,predicted\\n0,0\\n0,1\\n1,1\\n1,1\\n" + "0,0\\n" * int(s))
"""

DVC_YAML = """\
stages:
  train:
    cmd: python make.py
    deps: [make.py]
    params: [scale]
    outs:
      - plots/train_history.csv:
          cache: false
      - plots/confusion:
          cache: false
plots:
  - Loss:
      template: linear
      x: epoch
      y:
        plots/train_history.csv: [train_loss, val_loss]
  - plots/confusion:
      template: confusion
      x: actual
      y: predicted
"""


def sh(args: list[str], cwd: Path) -> str:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "DVC_NO_ANALYTICS": "1",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, f"{args}: {proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.fixture(scope="module")
def tiny_repo(tmp_path_factory) -> Path:
    """Commits: `bare` (no training history), `one` (scale 1), `two` (scale 2); experiment `big` (scale 3)."""
    repo = tmp_path_factory.mktemp("tiny")
    sh(["git", "init", "-q", "-b", "main"], repo)
    sh([sys.executable, "-m", "dvc", "init", "-q"], repo)
    (repo / "make.py").write_text(MAKE)
    (repo / "dvc.yaml").write_text(DVC_YAML)
    (repo / "params.yaml").write_text("scale: 1\n")
    (repo / "plots").mkdir()
    sh(["git", "add", "-A"], repo)
    sh(["git", "commit", "-qm", "bare"], repo)
    sh(["git", "tag", "bare"], repo)
    for scale, tag in ((1, "one"), (2, "two")):
        (repo / "params.yaml").write_text(f"scale: {scale}\n")
        sh([sys.executable, "-m", "dvc", "repro", "-q"], repo)
        sh(["git", "add", "-A"], repo)
        sh(["git", "commit", "-qm", tag], repo)
        sh(["git", "tag", tag], repo)
    sh([sys.executable, "-m", "dvc", "exp", "run", "-q", "-S", "scale=3", "-n", "big"], repo)
    sh(["git", "checkout", "-q", "--", "."], repo)  # the workspace back at `two`
    sh([sys.executable, "-m", "dvc", "checkout", "-q"], repo)
    return repo


@pytest.mark.e2e  # tiny_repo: dvc repro and dvc exp run of a toy pipeline
def test_compare_plots_overlays_revisions_and_experiments_on_shared_axes(tiny_repo, tmp_path):
    curves = compare_plots.histories(["one", "two", "big"], tiny_repo)
    assert list(curves) == ["one", "two", "big"]
    assert [curves[rev]["train_loss"].iloc[0] for rev in curves] == [1.0, 2.0, 3.0]  # the experiment's own data
    fig = figures.compare_curves_figure(curves)
    axes = fig.axes
    assert len(axes) == 4
    for ax in axes:
        assert [line.get_label() for line in ax.get_lines()] == ["one", "two", "big"]
        colours = [line.get_color() for line in ax.get_lines()]
        assert len(set(colours)) == 3
    assert axes[0].get_ylim() == axes[1].get_ylim()  # train and val loss share their y range
    assert axes[2].get_ylim() == axes[3].get_ylim()  # so do train and val accuracy
    assert axes[0].get_ylim()[1] >= 3.6  # big's val loss (1.2 × 3) fits in both panels

    written = compare_plots.write(["one", "two", "big"], tmp_path / "out", tiny_repo)
    assert [p.name for p in written] == ["curves.png", "confusion_one.png", "confusion_two.png", "confusion_big.png"]
    assert_png(written[0])
    for path in written[1:]:  # one attribute: one small matrix
        assert_png(path, min_size=(150, 150))


@pytest.mark.e2e  # tiny_repo: dvc repro and dvc exp run of a toy pipeline
def test_compare_plots_cli_defaults_to_workspace_and_head_and_names_a_revision_without_history(
    tiny_repo, tmp_path, capsys
):
    assert compare_plots.compared_revisions([]) == ["workspace", "HEAD"]
    assert compare_plots.compared_revisions(["one"]) == ["workspace", "one"]
    assert compare_plots.compared_revisions(["workspace"]) == ["workspace"]
    with pytest.raises(FaceattrError, match="revision 'bare' has no plots/train_history.csv"):
        compare_plots.histories(["bare", "two"], tiny_repo)
    with pytest.raises(FaceattrError, match="no-such-rev"):
        compare_plots.histories(["no-such-rev", "two"], tiny_repo)

    cwd = Path.cwd()
    os.chdir(tiny_repo)
    try:
        assert compare_plots.main(["--out", str(tmp_path / "ws"), "--no-confusion"]) == 0
        assert compare_plots.main(["bare", "--out", str(tmp_path / "bad")]) == 2
    finally:
        os.chdir(cwd)
    out, err = capsys.readouterr()
    assert out.split() == [str(tmp_path / "ws" / "curves.png")]
    assert "error: revision 'bare' has no plots/train_history.csv" in err
    assert_png(tmp_path / "ws" / "curves.png")
