"""The benchmark helper scripts that compute reported figures: ensemble averaging of predictions files."""

import subprocess
import sys
from pathlib import Path

import pandas as pd

ENSEMBLE = Path(__file__).resolve().parents[1] / "benchmarks" / "ensemble.py"


def _predictions(path: Path, probs: list[float], true: list[int], ids: list[str] | None = None) -> Path:
    ids = ids or [f"{k:06d}.jpg" for k in range(1, len(probs) + 1)]
    pd.DataFrame({"image_id": ids, "A_prob": probs, "A_pred": [int(p >= 0.5) for p in probs],
                  "A_true": true}).to_csv(path, index=False)
    return path


def _run(*args: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ENSEMBLE), *map(str, args)], capture_output=True, text=True)


def test_ensemble_averages_probabilities_per_image(tmp_path):
    true = [1, 0, 1, 0]
    a = _predictions(tmp_path / "a.csv", [0.9, 0.6, 0.4, 0.1], true)  # decisions 1 1 0 0: accuracy 0.5
    # the same images in another order: decisions 1 0 1 1 in image order, accuracy 0.75
    b = _predictions(tmp_path / "b.csv", [0.8, 0.7, 0.2, 0.6], [1, 1, 0, 0],
                     ids=["000001.jpg", "000003.jpg", "000002.jpg", "000004.jpg"])
    out = _run(a, b)
    assert out.returncode == 0, out.stderr
    rows = [line.split(" | ") for line in out.stdout.splitlines()[2:]]
    assert [r[0].strip("| ") for r in rows] == ["a", "b", "a + b"]
    # averaged per image: 0.85, 0.4, 0.55, 0.35 → 1 0 1 0, all right; balanced accuracy 0.5 / 0.75 / 1.0
    assert [float(r[1]) for r in rows] == [0.5, 0.75, 1.0]
    assert [float(r[2].strip(" |")) for r in rows] == [0.5, 0.75, 1.0]


def test_ensemble_refuses_runs_on_other_images(tmp_path):
    a = _predictions(tmp_path / "a.csv", [0.9, 0.1], [1, 0])
    b = _predictions(tmp_path / "b.csv", [0.9, 0.1], [1, 0], ids=["000001.jpg", "000009.jpg"])
    out = _run(a, b)
    assert out.returncode != 0 and "b.csv" in out.stderr and "other attributes or images" in out.stderr
