"""The benchmark helper scripts that compute reported figures: ensemble averaging of predictions files."""

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from helpers import dvc_yaml

ENSEMBLE = Path(__file__).resolve().parents[1] / "benchmarks" / "ensemble.py"


def _predictions(path: Path, probs: list[float], true: list[int], ids: list[str] | None = None) -> Path:
    ids = ids or [f"{k:06d}.jpg" for k in range(1, len(probs) + 1)]
    pd.DataFrame({"image_id": ids, "A_prob": probs, "A_pred": [int(p >= 0.5) for p in probs], "A_true": true}).to_csv(
        path, index=False
    )
    return path


def _run(*args: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ENSEMBLE), *map(str, args)], capture_output=True, text=True)


def test_ensemble_averages_probabilities_per_image(tmp_path):
    true = [1, 0, 1, 0]
    a = _predictions(tmp_path / "a.csv", [0.9, 0.6, 0.4, 0.1], true)  # decisions 1 1 0 0: accuracy 0.5
    # the same images in another order: decisions 1 0 1 1 in image order, accuracy 0.75
    b = _predictions(
        tmp_path / "b.csv",
        [0.8, 0.7, 0.2, 0.6],
        [1, 1, 0, 0],
        ids=["000001.jpg", "000003.jpg", "000002.jpg", "000004.jpg"],
    )
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


SCALE = ENSEMBLE.with_name("scale.py")


@pytest.mark.e2e  # the whole pipeline through dvc
def test_scale_bench_runs_every_stage_and_reports_each(tmp_path):
    """benchmarks/scale.py end to end on a few images: every stage runs through DVC and is measured."""
    import json

    out = subprocess.run(
        [
            sys.executable,
            str(SCALE),
            "--count",
            "200",
            "--baseline",
            "0",
            "--work",
            str(tmp_path / "w"),
            "--json",
            str(tmp_path / "scale.json"),
            "-S",
            "explain.attributes=[Eyeglasses]",
        ],
        capture_output=True,
        text=True,
        timeout=3600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    figures = json.loads((tmp_path / "scale.json").read_text())
    run = figures["runs"]["bench-200"]
    assert run["images"] == 200 and run["params"]["strategy"] == "official"
    # CelebA's shares (80.3 / 9.8 / 9.9 %), moved to identity boundaries
    counts = run["splits"]["all"]
    assert sum(counts.values()) == 200 and 150 <= counts["train"] <= 170 and counts["val"] > 0 and counts["test"] > 0
    stages = [s["stage"] for s in run["stages"]]
    assert stages == list(dvc_yaml()["stages"])  # every stage, in dvc.yaml's order
    for s in run["stages"]:
        for key in ("wall_s", "cpu_s", "peak_rss_gb", "peak_pss_sum_gb", "dvc_wall_s", "dvc_peak_rss_gb"):
            assert s[key] > 0, (s["stage"], key, s[key])
        assert s["dvc_wall_s"] >= s["wall_s"]
        assert s["files_written"] > 0 and isinstance(s["disk_gb"], float), s
    unzip = run["stages"][2]
    assert unzip["files_written"] >= 400 and unzip["files"] >= 400  # the images, and their copies in DVC's cache
    assert unzip["disk_gb"] > 0
    table = out.stdout.splitlines()
    assert any(line.startswith("| explain |") for line in table)
    last = dict(field.split("=", 1) for field in table[-1].split())
    assert last["scale_count"] == "200" and float(last["total_s"]) > 0
    assert not (tmp_path / "w" / "bench-200" / "project").exists()  # the clone is removed, the logs stay
    assert (tmp_path / "w" / "bench-200" / "logs" / "train.log").is_file()


def _scale_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("scale_bench", SCALE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _bench(images: int, cpu: dict[str, float]) -> dict:
    return {
        "label": f"bench-{images}",
        "images": images,
        "stages": [{"stage": name, "cpu_s": seconds, "dvc_wall_s": seconds + 1} for name, seconds in cpu.items()],
    }


def test_scale_growth_flags_a_stage_whose_cost_per_image_rises_and_not_one_its_start_up_hides():
    scale = _scale_module()
    start = 7.0
    small = _bench(3_000, {"check_params": start, "unzip": start + 0.3, "preprocess": start + 3.0, "train": start + 30})
    middle = _bench(
        50_000, {"check_params": start, "unzip": start + 23.0, "preprocess": start + 100.0, "train": start + 500}
    )
    # from 50,000 to 200,000: unzip per image constant, preprocess per image 2× (super-linear), train 4× the work
    large = _bench(
        200_000, {"check_params": start, "unzip": start + 92.0, "preprocess": start + 800.0, "train": start + 2000}
    )
    assert scale.superlinear(middle, large) == ["preprocess"]
    # from 3,000: unzip's 0.3 s beside a 7 s start-up cannot be judged, so its 5× per-image rise flags nothing;
    # preprocess's 3 s is 30 % of its CPU there: judged, and its cost per image doubled
    assert scale.superlinear(small, middle) == ["preprocess"]
    table = scale.growth(small, large)
    unzip_row = next(line for line in table.splitlines() if line.startswith("| unzip |"))
    assert unzip_row.endswith("| — (start-up dominated) |")
    train_row = next(line for line in table.splitlines() if line.startswith("| train |"))
    assert train_row.endswith("| 1.00 |")  # 30 s of work at 3,000 images, 2,000 s at 200,000: linear
