"""DVC stage `explain`: Grad-CAM figures of the test split per attribute (plots/explain/) and, on the
synthetic data, how much of the heat lies where the glasses and hats were drawn (metrics/explain.json)."""

from pathlib import Path

import numpy as np
import pandas as pd

from faceattr import tracking
from faceattr.atomic import write_json
from faceattr.explain import resolve_attributes
from faceattr.gallery import Outcomes, attribute_gallery, box_scores
from faceattr.images import decode_rgb
from faceattr.models import file_sha256, load_model
from faceattr.params import get, load_params
from faceattr.paths import EXPLAIN_DIR, EXPLAIN_METRICS, IMAGES_DIR, MODEL, PIXELS_DIR, PREDICTIONS
from faceattr.pixels import PixelCache
from faceattr.stage import run_stage
from faceattr.synth import BOXES_FILE, IMAGE_HEIGHT, IMAGE_WIDTH, read_boxes


def main() -> None:
    params = load_params()
    model, spec = load_model(MODEL)  # on the CPU: a few dozen images, and float32 gradients everywhere
    wanted = get(params, "explain.attributes")
    attributes = resolve_attributes(spec, None if wanted == "all" else wanted)
    frame = pd.read_csv(PREDICTIONS, dtype={"image_id": str})
    ids = frame["image_id"].tolist()
    cached = PixelCache(PIXELS_DIR).images(ids)

    def model_inputs(rows: np.ndarray):
        return cached.gather(rows)

    def shown(image_id: str):
        return decode_rgb((IMAGES_DIR / image_id).read_bytes(), image_id)

    boxes_file = Path(get(params, "data.dir")) / BOXES_FILE  # only the synthetic data records them
    boxes = read_boxes(boxes_file) if boxes_file.is_file() else {}
    EXPLAIN_DIR.mkdir(parents=True, exist_ok=True)
    for old in EXPLAIN_DIR.glob("*.png"):  # attributes no longer asked for leave no stale figure
        old.unlink()
    metrics: dict = {}
    for attribute in attributes:
        outcomes = Outcomes(frame[f"{attribute}_prob"].to_numpy(), frame[f"{attribute}_pred"].to_numpy(),
                            frame[f"{attribute}_true"].to_numpy())
        shown_count = attribute_gallery(model, spec, attribute, ids, outcomes, model_inputs, shown,
                                        get(params, "explain.images_per_row"), EXPLAIN_DIR / f"{attribute}.png")
        line = f"explain: {EXPLAIN_DIR / (attribute + '.png')} ({shown_count} examples)"
        if any(attribute in b for b in boxes.values()):
            score = box_scores(model, spec, attribute, ids, outcomes.true, boxes, model_inputs,
                               (IMAGE_HEIGHT, IMAGE_WIDTH))
            metrics[attribute] = score
            line += (f"; heat inside the drawn box: majority in {score['majority_in_box']:.0%} of "
                     f"{score['images']} positive images, mean share {score['mean_heat_in_box']:.2f} "
                     f"(box area {score['mean_box_area']:.2f})")
        print(line)
    write_json(EXPLAIN_METRICS, {"heat_in_box": metrics})
    flat = {f"explain.{a}.{k}": v for a, m in metrics.items() for k, v in m.items() if k != "images"}
    tracking.log_to_model_run(file_sha256(MODEL), flat, [EXPLAIN_DIR, EXPLAIN_METRICS], params)


if __name__ == "__main__":
    run_stage(main)
