"""DVC stage `explain`: Grad-CAM figures of the test split per attribute (plots/explain/) and, on the
synthetic data, how much of the heat lies where the glasses and hats were drawn: per attribute and layer, and
their means at the configured layer, in plots/heat_in_box.json; the share of images whose hottest point lies in
the box (`pointing`, that mean) in metrics/explain.json, the one figure `dvc metrics diff` compares."""

from pathlib import Path

import numpy as np
import pandas as pd

from faceattr.atomic import write_json
from faceattr.config.paths import EXPLAIN_DIR, EXPLAIN_METRICS, HEAT_IN_BOX, IMAGES_DIR, MODEL, PIXELS_DIR, PREDICTIONS
from faceattr.config.schema import load_config
from faceattr.data.decoding import decode_rgb
from faceattr.data.pixels import PixelCache
from faceattr.data.synth import BOXES_FILE, read_boxes
from faceattr.digest import file_sha256
from faceattr.explain.gallery import explain_split, heat_summary
from faceattr.explain.gradcam import choose_layer, resolve_attributes
from faceattr.model.model_file import load_model
from faceattr.pipeline.stage import run_stage
from faceattr.track import mlflow_runs


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
    in_box = explain_split(
        model,
        spec,
        frame,
        attributes,
        model_inputs,
        shown,
        boxes,
        layers=(layer, last),
        images_per_row=cfg.explain.images_per_row,
        out_dir=EXPLAIN_DIR,
    )
    summary = heat_summary(in_box, layer)
    write_json(HEAT_IN_BOX, {"layer": layer, "mean": summary, "heat_in_box": in_box})
    write_json(EXPLAIN_METRICS, {k: v for k, v in summary.items() if k == "pointing"})
    mlflow_runs.log_to_model_run(
        file_sha256(MODEL),
        {f"explain.{k}": v for k, v in summary.items()},
        [EXPLAIN_DIR, EXPLAIN_METRICS, HEAT_IN_BOX],
        cfg.as_dict(),
    )


if __name__ == "__main__":
    run_stage(main)
