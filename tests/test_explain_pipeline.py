"""End to end: a model trained by the default pipeline looks at the glasses when it says Eyeglasses.

The synthetic generator records where it drew each pair of glasses (attribute_boxes.csv). The real
`dvc repro` runs in a temporary clone with the default params.yaml (same generator, data, architecture,
input size and recipe) but fewer epochs, so the suite stays short; `make repro` gives the full-length
figures (docs/explanations.md). The stage's own scores are then recomputed here from the
model file, the test images and the boxes, by code that shares nothing with the stage but Grad-CAM.
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from helpers import make_clone, run

from faceattr.data.decoding import decode_rgb, resize_to
from faceattr.explain.gradcam import grad_cam
from faceattr.model.model_file import load_model

pytestmark = pytest.mark.e2e  # dvc repro with the default params

# The default pipeline with a shorter training: every other param as in params.yaml.
SHORT = {"train": {"epochs": 5}}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    repo = make_clone(tmp_path_factory.mktemp("explain") / "repo", SHORT)
    run(["dvc", "repro", "explain"], repo)
    return repo


def _glasses_boxes(repo) -> dict[str, tuple[float, ...]]:
    with open(repo / "data/raw/synthetic/attribute_boxes.csv", newline="") as f:
        return {
            r["image_id"]: tuple(float(r[k]) for k in ("x0", "y0", "x1", "y1"))
            for r in csv.DictReader(f)
            if r["attribute"] == "Eyeglasses"
        }


def test_eyeglasses_heat_lies_on_the_drawn_glasses_far_more_often_than_chance(trained):
    report = json.loads((trained / "plots/heat_in_box.json").read_text())
    layer = report["layer"]
    stage = report["heat_in_box"]["Eyeglasses"][layer]
    headline = json.loads((trained / "metrics/explain.json").read_text())  # the mean over the scored attributes
    scored = [by_layer[layer] for by_layer in report["heat_in_box"].values() if by_layer[layer]["images"]]
    assert headline == {"pointing": pytest.approx(np.mean([s["pointing"] for s in scored]), abs=1e-4)}
    assert report["mean"]["pointing"] == headline["pointing"]

    model, spec = load_model(trained / "models/model.pt")
    boxes = _glasses_boxes(trained)
    with open(trained / "plots/predictions.csv", newline="") as f:
        positives = [r["image_id"] for r in csv.DictReader(f) if r["Eyeglasses_true"] == "1" and r["image_id"] in boxes]
    assert len(positives) >= 10 and stage["images"] == len(positives)

    photos = [decode_rgb((trained / "data/interim/img_align_celeba" / i).read_bytes()) for i in positives]
    full_h, full_w = photos[0].shape[1:]
    heat = grad_cam(
        model, spec, torch.stack([resize_to(p, spec.image_size) for p in photos]), "Eyeglasses", layer=layer
    ).heat
    h, w = heat.shape[1:]
    # Each heat cell's centre in the photo's pixels: inside the box or not.
    ys, xs = (np.arange(h) + 0.5) * full_h / h, (np.arange(w) + 0.5) * full_w / w
    hits, shares, areas = [], [], []
    for image_id, cam in zip(positives, heat):
        x0, y0, x1, y1 = boxes[image_id]
        inside = ((ys >= y0) & (ys <= y1))[:, None] & ((xs >= x0) & (xs <= x1))[None, :]
        peak = np.unravel_index(int(cam.argmax()), cam.shape)
        hits.append(cam.max() > 0 and bool(inside[peak]))
        shares.append(cam[inside].sum() / max(cam.sum(), 1e-12))
        areas.append((x1 - x0) * (y1 - y0) / (full_h * full_w))
    pointing, share, chance = np.mean(hits), np.mean(shares), np.mean(areas)
    print(
        f"Eyeglasses at {layer}, {len(positives)} positive test images: peak inside the glasses box "
        f"{pointing:.0%}, mean heat share inside {share:.3f}, chance (box area) {chance:.3f}"
    )

    assert pointing >= 0.4 and pointing >= 4 * chance  # the hottest point is on the glasses
    assert share >= 2.5 * chance  # and the heat gathers there
    # The stage's figures (pixel-cache inputs, its own box arithmetic) say the same.
    assert stage["pointing"] == pytest.approx(pointing, abs=0.1)
    assert stage["mean_heat_in_box"] == pytest.approx(share, abs=0.05)
    assert stage["mean_box_area"] == pytest.approx(chance, abs=0.01)
