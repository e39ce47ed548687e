"""DVC stage `preprocess`: decode every partitioned image once, at train.image_size → data/processed/pixels."""

import time

from faceattr.config.paths import IMAGES_DIR, PARTITIONS_DIR, PIXELS_DIR
from faceattr.config.schema import load_config
from faceattr.data.pixels import build_pixel_cache, decode_workers
from faceattr.data.splits import partition_ids
from faceattr.pipeline.stage import run_stage


def main() -> None:
    height, width = load_config().train.image_size
    ids = partition_ids(PARTITIONS_DIR)
    started = time.perf_counter()
    meta = build_pixel_cache(IMAGES_DIR, ids, (height, width), PIXELS_DIR, log_every=20_000)
    seconds = time.perf_counter() - started
    print(
        f"preprocess: {meta['count']} images at {height}×{width} ({meta['count'] * height * width * 3 / 2**20:.0f} MiB) "
        f"in {seconds:.1f} s with {decode_workers(len(ids))} process(es)"
    )


if __name__ == "__main__":
    run_stage(main)
