"""DVC stage `clean_labels`: the attribute file → data/processed/labels.csv and a report of every drop."""

import json
import os

from faceattr.atomic import write_csv, write_json
from faceattr.config.paths import IMAGES_DIR, LABEL_REPORT, LABELS, UNZIP_REPORT
from faceattr.config.schema import load_config
from faceattr.data.labels import clean_labels
from faceattr.pipeline.stage import run_stage


def main() -> None:
    cfg = load_config()
    unzip_report = json.loads(UNZIP_REPORT.read_text())
    frame, report = clean_labels(
        cfg.data.file("attributes"),
        cfg.labels.attributes,
        available_images=os.listdir(IMAGES_DIR),
        bad_images=[b["image"] for b in unzip_report["bad_images"]],
    )
    write_csv(LABELS, frame)
    write_json(LABEL_REPORT, report)
    print(
        f"clean_labels: {report['rows_kept']} rows kept of {report['rows_read']} "
        f"({report['rows_malformed']} malformed, {report['rows_missing_image']} without image, "
        f"{report['rows_bad_image']} with a bad image)"
    )


if __name__ == "__main__":
    run_stage(main)
