"""DVC stage `synth`: generate the embedded synthetic CelebA-format dataset and a sample grid."""

from faceattr.config.paths import RAW_SYNTHETIC as OUT_DIR
from faceattr.config.paths import SYNTHETIC_SAMPLES_PNG as SAMPLES_PNG
from faceattr.config.schema import load_config
from faceattr.data.synth import generate_dataset, render_sample_grid
from faceattr.pipeline.stage import run_stage


def main() -> None:
    synth = load_config().synth
    summary = generate_dataset(OUT_DIR, count=synth.count, seed=synth.seed, quality=synth.quality)
    render_sample_grid(OUT_DIR / "img_align_celeba.zip", OUT_DIR / "list_attr_celeba.txt", SAMPLES_PNG)
    print(f"synth: {summary['count']} images of {summary['identities']} identities in {OUT_DIR}")


if __name__ == "__main__":
    run_stage(main)
