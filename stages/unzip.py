"""DVC stage `unzip`: extract the configured image archive into data/interim/img_align_celeba/."""

from faceattr.atomic import write_json
from faceattr.config.paths import IMAGES_DIR, UNZIP_REPORT
from faceattr.config.schema import load_config
from faceattr.data.archive import extract_images
from faceattr.data.input_limits import SMALL_SIDE
from faceattr.pipeline.stage import run_stage


def main() -> None:
    cfg = load_config()
    report = extract_images(
        cfg.data.file("images"),
        IMAGES_DIR,
        max_uncompressed_bytes=int(cfg.unzip.max_uncompressed_mb * 2**20),
        on_bad_image=cfg.unzip.on_bad_image,
    )
    write_json(UNZIP_REPORT, report)
    print(
        f"unzip: {report['images_extracted']} images extracted, {report['images_bad']} bad, "
        f"{report['non_image_entries']} non-image entries ignored"
    )
    if report["small_images"]:
        names = ", ".join(item["image"] for item in report["small_images"][:5])
        print(
            f"warning: {len(report['small_images'])} images have a side under {SMALL_SIDE} pixels and will be "
            f"upscaled far for training ({names}{', …' if len(report['small_images']) > 5 else ''}; "
            f"listed in {UNZIP_REPORT})"
        )


if __name__ == "__main__":
    run_stage(main)
