"""DVC stage `explain`: Grad-CAM figures of the test split per attribute (plots/explain/) and, on the
synthetic data, how much of the heat lies where the glasses and hats were drawn: per attribute and layer, and
their means at the configured layer, in plots/heat_in_box.json; the share of images whose hottest point lies in
the box (`pointing`, that mean) in metrics/explain.json, the one figure `dvc metrics diff` compares."""

from pathlib import Path

import numpy as np
import pandas as pd

from faceattr.track import runs as tracking
from faceattr.atomic import write_json
from faceattr.explain.gradcam import choose_layer, resolve_attributes
from faceattr.explain.gallery import Outcomes, attribute_gallery, box_scores
from faceattr.data.decoding import decode_rgb
from faceattr.model.model_file import file_sha256, load_model
from faceattr.config.schema import load_config
from faceattr.config.paths import EXPLAIN_DIR, EXPLAIN_METRICS, HEAT_IN_BOX, IMAGES_DIR, MODEL, PIXELS_DIR, PREDICTIONS
from faceattr.data.pixels import PixelCache
from faceattr.pipeline.stage import run_stage
from faceattr.data.synth import BOXES_FILE, IMAGE_HEIGHT, IMAGE_WIDTH, read_boxes


def main() -> None:
    cfg = load_config()
    model, spec = load_model(MODEL)  # on the CPU: a few dozen images, and float32 gradients everywhere
    wanted = cfg.explain.attributes
    attributes = resolve_attributes(spec, None if wanted == "all" else wanted)
    layer, last = choose_layer(model, spec, cfg.explain.layer), choose_layer(model, spec, "last")
    frame = pd.read_csv(PREDICTIONS, dtype={"image_id": str})
    ids = frame["image_id"].tolist()
    cached = PixelCache(PIXELS_DIR).images(ids)

    def model_inputs(rows: np.ndarray):
        return cached.gather(rows)

    def shown(image_id: str):
        return decode_rgb((IMAGES_DIR / image_id).read_bytes(), image_id)

    boxes_file = Path(cfg.data.dir) / BOXES_FILE  # only the synthetic data records them
    boxes = read_boxes(boxes_file) if boxes_file.is_file() else {}
    EXPLAIN_DIR.mkdir(parents=True, exist_ok=True)
    for old in EXPLAIN_DIR.glob("*.png"):  # attributes no longer asked for leave no stale figure
        old.unlink()
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
            cfg.explain.images_per_row,
            EXPLAIN_DIR / f"{attribute}.png",
            layer,
        )
        print(f"explain: {EXPLAIN_DIR / (attribute + '.png')} ({shown_count} examples, Grad-CAM at {layer})")
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
    summary = heat_summary(in_box, layer)
    write_json(HEAT_IN_BOX, {"layer": layer, "mean": summary, "heat_in_box": in_box})
    write_json(EXPLAIN_METRICS, {k: v for k, v in summary.items() if k == "pointing"})
    tracking.log_to_model_run(
        file_sha256(MODEL),
        {f"explain.{k}": v for k, v in summary.items()},
        [EXPLAIN_DIR, EXPLAIN_METRICS, HEAT_IN_BOX],
        cfg.as_dict(),
    )


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


if __name__ == "__main__":
    run_stage(main)
