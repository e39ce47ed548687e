"""The `explain` stage's content: per attribute, the test split's telling examples with their heat maps,
and, on synthetic data whose generator recorded where it drew things, how much of the heat lies there.

The examples are the most confident true positives, the most confident false positives (the model
sure of an attribute that is absent) and the most confident false negatives: the three rows a person
reads to see what the model relies on and how it fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from faceattr.data.synth import IMAGE_HEIGHT, IMAGE_WIDTH
from faceattr.explain.gradcam import grad_cam, heat_fraction_in_box
from faceattr.explain.heatmaps import example_grid
from faceattr.model.model_file import ModelSpec

ROWS = ("most confident true positives", "most confident false positives", "most confident false negatives")
EXPLAIN_BATCH = 32  # Grad-CAM's backward pass holds every activation: bounded batches bound memory


@dataclass
class Outcomes:
    """One attribute over the test split: probability, decision and truth per image (aligned with the ids)."""

    probability: np.ndarray
    predicted: np.ndarray
    true: np.ndarray


def pick_examples(outcomes: Outcomes, per_row: int) -> list[np.ndarray]:
    """Indices for the three rows (see ROWS), most confident first."""
    p, pred, true = outcomes.probability, outcomes.predicted.astype(bool), outcomes.true.astype(bool)

    def top(mask: np.ndarray, key: np.ndarray) -> np.ndarray:
        idx = np.flatnonzero(mask)
        return idx[np.argsort(key[idx], kind="stable")][:per_row]

    return [top(pred & true, -p), top(pred & ~true, -p), top(~pred & true, p)]


def explain_in_batches(
    model: nn.Module,
    spec: ModelSpec,
    model_inputs: torch.Tensor,
    attribute: str,
    layer: str | None = None,
    device: torch.device | str = "cpu",
) -> tuple[np.ndarray, np.ndarray]:
    """Grad-CAM heat maps and probabilities of one attribute for many images, a bounded batch at a time."""
    heats, probs = [], []
    for start in range(0, len(model_inputs), EXPLAIN_BATCH):
        found = grad_cam(
            model, spec, model_inputs[start : start + EXPLAIN_BATCH], attribute, device=device, layer=layer
        )
        heats.append(found.heat)
        probs.append(found.probability)
    if not heats:
        return np.zeros((0, *spec.image_size), np.float32), np.zeros(0, np.float32)
    return np.concatenate(heats), np.concatenate(probs)


def attribute_gallery(
    model: nn.Module,
    spec: ModelSpec,
    attribute: str,
    ids: Sequence[str],
    outcomes: Outcomes,
    model_inputs: Callable[[np.ndarray], torch.Tensor],
    shown: Callable[[str], torch.Tensor],
    per_row: int,
    path: str | Path,
    layer: str | None = None,
    device: torch.device | str = "cpu",
) -> int:
    """Write one attribute's figure (three rows of examples with heat maps); return how many it shows."""
    rows, count = [], 0
    for label, picked in zip(ROWS, pick_examples(outcomes, per_row)):
        heats, _ = explain_in_batches(model, spec, model_inputs(picked), attribute, layer, device)
        examples = [
            (shown(ids[k]), heat, f"{ids[k]}  p={outcomes.probability[k]:.2f}") for k, heat in zip(picked, heats)
        ]
        rows.append((f"{label} ({len(picked)})", examples))
        count += len(picked)
    example_grid(
        rows,
        f"{attribute}: Grad-CAM at {layer or 'the last block'} on the test split (red: raises the {attribute} logit)",
        path,
        columns=per_row,
    )
    return count


def heat_in_boxes(heats: np.ndarray, boxes: Sequence[Sequence[float]], image_size: tuple[int, int]) -> dict[str, float]:
    """How well heat maps point at boxes (x0, y0, x1, y1, in pixels of the original image of (height,
    width) `image_size`; the maps may be smaller, at the model's input size), over many images:

    - pointing: the share of images whose hottest point lies inside the box (the "pointing game" of
      Zhang et al., 2016); chance, for a peak anywhere, is the box's share of the image;
    - mean_heat_in_box: the mean share of the heat inside the box; chance is again the box's share
      (`mean_box_area`), heat spread evenly;
    - majority_in_box: the share of images with more than half their heat inside the box.
    """
    if not len(heats):
        return {"images": 0}
    h, w = heats.shape[1:]
    sx, sy = image_size[1] / w, image_size[0] / h
    shares = np.array([heat_fraction_in_box(heat, box, (sx, sy)) for heat, box in zip(heats, boxes)])
    areas = np.array([(b[2] - b[0]) * (b[3] - b[1]) / (image_size[0] * image_size[1]) for b in boxes])
    hits = []
    for heat, box in zip(heats, boxes):
        y, x = np.unravel_index(int(np.argmax(heat)), heat.shape)
        px, py = (x + 0.5) * sx, (y + 0.5) * sy
        hits.append(bool(heat.max() > 0) and box[0] <= px <= box[2] and box[1] <= py <= box[3])
    return {
        "images": int(len(shares)),
        "pointing": round(float(np.mean(hits)), 4),
        "mean_heat_in_box": round(float(shares.mean()), 4),
        "mean_box_area": round(float(areas.mean()), 4),
        "majority_in_box": round(float((shares > 0.5).mean()), 4),
    }


def box_scores(
    model: nn.Module,
    spec: ModelSpec,
    attribute: str,
    ids: Sequence[str],
    true: np.ndarray,
    boxes: Mapping[str, Mapping[str, Sequence[float]]],
    model_inputs: Callable[[np.ndarray], torch.Tensor],
    image_size: tuple[int, int],
    layer: str | None = None,
    device: torch.device | str = "cpu",
) -> dict[str, float]:
    """heat_in_boxes over the test images that truly have the attribute and a recorded box for it."""
    picked = np.array([k for k in np.flatnonzero(true) if attribute in boxes.get(ids[k], {})], dtype=np.int64)
    heats, _ = explain_in_batches(model, spec, model_inputs(picked), attribute, layer, device)
    return heat_in_boxes(heats, [boxes[ids[k]][attribute] for k in picked], image_size)


def explain_split(
    model: nn.Module,
    spec: ModelSpec,
    frame: pd.DataFrame,
    attributes: Sequence[str],
    model_inputs: Callable[[np.ndarray], torch.Tensor],
    shown: Callable[[str], torch.Tensor],
    boxes: Mapping[str, Mapping[str, Sequence[float]]],
    layers: tuple[str, str],
    images_per_row: int,
    out_dir: Path,
) -> dict:
    """The explain stage's work on the evaluated split (`frame`: the evaluate stage's predictions): per
    attribute, a gallery PNG in `out_dir` with Grad-CAM at `layers[0]`, and, where `boxes` records drawn
    objects (the synthetic data), the heat-in-box scores at `layers[0]` and the last layer (`layers[1]`).
    Returns those scores: attribute → layer → box_scores."""
    layer, last = layers
    ids = frame["image_id"].tolist()
    in_box: dict = {}
    for attribute in attributes:
        outcomes = Outcomes(
            frame[f"{attribute}_prob"].to_numpy(),
            frame[f"{attribute}_pred"].to_numpy(),
            frame[f"{attribute}_true"].to_numpy(),
        )
        shown_count = attribute_gallery(
            model,
            spec,
            attribute,
            ids,
            outcomes,
            model_inputs,
            shown,
            images_per_row,
            out_dir / f"{attribute}.png",
            layer,
        )
        print(f"explain: {out_dir / (attribute + '.png')} ({shown_count} examples, Grad-CAM at {layer})")
        if any(attribute in b for b in boxes.values()):
            in_box[attribute] = {
                name: box_scores(
                    model, spec, attribute, ids, outcomes.true, boxes, model_inputs, (IMAGE_HEIGHT, IMAGE_WIDTH), name
                )
                for name in dict.fromkeys([layer, last])
            }
            for name, score in in_box[attribute].items():
                if not score["images"]:
                    print(f"  {attribute}: no positive test image with a drawn box to score the heat at {name}")
                    continue
                print(
                    f"  {attribute} heat at {name} vs the drawn box, {score['images']} positive test images: peak "
                    f"inside {score['pointing']:.0%}, mean share inside {score['mean_heat_in_box']:.3f} (chance: "
                    f"the box's share of the image, {score['mean_box_area']:.3f}), over half inside "
                    f"{score['majority_in_box']:.0%}"
                )
    return in_box


def heat_summary(in_box: dict, layer: str) -> dict:
    """The headline of the heat-in-box scores: at `layer`, averaged over the attributes that had scored
    images (the share whose peak lies in the box, the mean share of heat inside, and the chance level)."""
    scored = [by_layer[layer] for by_layer in in_box.values() if by_layer[layer]["images"]]
    if not scored:
        return {}
    return {
        key: round(float(np.mean([s[key] for s in scored])), 4)
        for key in ("pointing", "mean_heat_in_box", "mean_box_area")
    }
