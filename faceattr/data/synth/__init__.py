"""Synthetic CelebA-format face images, so the pipeline runs end to end without the real data set.

The generator draws cartoon-like but face-shaped portraits (head, hair, eyes, brows, nose, mouth, ears,
neck and shoulders on a cluttered background) and writes the four files of the official CelebA release:
`img_align_celeba.zip`, `list_attr_celeba.txt`, `list_eval_partition.txt` and `identity_CelebA.txt`.

Why it is built the way it is:
- Every attribute in RENDERED_ATTRIBUTES is drawn visibly and its label is exactly what is drawn (no label
  noise), so a classifier trained on these images has a well-defined target; the remaining CelebA
  attributes get labels sampled from CelebA-like base rates (they are noise to a model, as documented).
- Positive rates and dependencies (Mustache only on men, makeup almost only on women, one hair colour at
  most, ...) follow CelebA, so class imbalance looks like the real thing.
- Per-person traits (sex, age, skin, face shape, hair) are drawn once per identity from (seed, identity),
  per-image things (smile, glasses, hat, makeup, pose, lighting, background, JPEG quality) from
  (seed, image index); output is therefore byte-identical for the same arguments whatever the worker count.
- Cues are drawn large and high-contrast so they survive downscaling to ~89x109 (and mostly ~52x64).

The modules:
- traits: an identity's traits (`Identity`), a photo's (`Photo`), and the labels they give;
- colours, geometry: colour helpers and palettes; the pose-applying `Pen` and a face's geometry (`Face`);
- body, hair, face, eyes, mouth, accessories: drawing one group of parts each;
- render: composing one photo (background, person, pose, lighting, noise, JPEG);
- dataset: writing the zip, CelebA's label files, the boxes side file, and the sample grid.
"""

from faceattr.data.attributes import CELEBA_ATTRIBUTES
from faceattr.data.synth.dataset import BOXES_FILE, generate_dataset, read_boxes, render_sample_grid
from faceattr.data.synth.geometry import IMAGE_HEIGHT, IMAGE_WIDTH
from faceattr.data.synth.render import face_with_eyes
from faceattr.data.synth.traits import RENDERED_ATTRIBUTES

__all__ = [
    "BOXES_FILE",
    "CELEBA_ATTRIBUTES",
    "IMAGE_HEIGHT",
    "IMAGE_WIDTH",
    "RENDERED_ATTRIBUTES",
    "face_with_eyes",
    "generate_dataset",
    "read_boxes",
    "render_sample_grid",
]
