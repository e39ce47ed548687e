"""Demo photos: synthetic faces (faceattr.data.synth) pasted 1:1 at known places on a plain background.

Tests of face detection and of the web server, and the server's latency benchmark, need ordinary photos
with a known number of faces at known places; nothing of CelebA or of a real person is needed for that.
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from faceattr.errors import FaceattrError

PHOTO_WIDTH, PHOTO_HEIGHT = 640, 480
FACE_WIDTH, FACE_HEIGHT = 178, 218  # a synthetic face is a CelebA-sized aligned crop
MAX_FACES = 6  # two rows of three fit in 640×480
SYNTH_POOL = 12  # synthetic faces rendered to choose from


@dataclass
class DemoPhoto:
    """A photo (H×W×3 uint8), the top-left corner (x, y) of each pasted face, left to right then top to
    bottom, and which synthetic face (an index into `synthetic_faces()`) was pasted there."""

    rgb: np.ndarray
    places: list[tuple[int, int]]
    faces: list[int]


def background(seed: int, width: int = PHOTO_WIDTH, height: int = PHOTO_HEIGHT) -> np.ndarray:
    """A smooth colour gradient with low-contrast noise: nothing face-like."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    rgb = np.stack([90 + 60 * xx / width, 110 + 40 * yy / height, 150 - 50 * xx / width], -1)
    rgb += np.random.default_rng(seed).normal(0, 4, rgb.shape)
    return np.clip(rgb, 0, 255).astype(np.uint8)


@lru_cache(maxsize=4)
def synthetic_faces(count: int = SYNTH_POOL, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """The first `count` synthetic faces of `seed` (uint8 3×218×178 each), rendered once per process
    through `generate_dataset` itself, in a temporary folder that is removed afterwards."""
    from faceattr.data.decoding import decode_rgb
    from faceattr.data.synth import generate_dataset

    with tempfile.TemporaryDirectory(prefix="faceattr-demo-") as folder:
        generate_dataset(Path(folder), count=count, seed=seed, workers=1)
        with zipfile.ZipFile(Path(folder) / "img_align_celeba.zip") as zf:
            return tuple(decode_rgb(zf.read(n)) for n in sorted(zf.namelist()))


@lru_cache(maxsize=4)
def findable_faces(detector: str | None = None, seed: int = 0) -> tuple[int, ...]:
    """The synthetic faces in which `detector` finds exactly one face, eyes included, when standing alone
    (deterministic), so a photo made of them has a known answer."""
    from faceattr.predict.detect import DEFAULT_DETECTOR, detect_faces

    found = [detect_faces(img, detector or DEFAULT_DETECTOR) for img in synthetic_faces(seed=seed)]
    return tuple(k for k, faces in enumerate(found) if [f.eyes is not None for f in faces] == [True])


def places(count: int, width: int = PHOTO_WIDTH, height: int = PHOTO_HEIGHT) -> list[tuple[int, int]]:
    """Top-left corners for `count` faces: up to three per row, each centred in its cell."""
    columns, rows = min(count, 3), -(-count // 3)
    cell_w, cell_h = width // columns, height // rows
    corners = []
    for k in range(count):
        row, col = divmod(k, 3)
        corners.append((col * cell_w + (cell_w - FACE_WIDTH) // 2, row * cell_h + (cell_h - FACE_HEIGHT) // 2))
    return corners


def demo_photo(faces: int = 2, seed: int = 1, detector: str | None = None) -> DemoPhoto:
    """A 640×480 photo of `faces` distinct synthetic faces (1 to 6) that `detector` finds, on background `seed`."""
    if not isinstance(faces, int) or not 1 <= faces <= MAX_FACES:
        raise FaceattrError(
            f"faces: expected 1 to {MAX_FACES} (what fits in {PHOTO_WIDTH}×{PHOTO_HEIGHT}), got {faces!r}"
        )
    chosen = findable_faces(detector)[:faces]
    if len(chosen) < faces:
        raise FaceattrError(
            f"faces: only {len(chosen)} of the first {SYNTH_POOL} synthetic faces are found alone "
            f"by the {detector or 'default'} detector, {faces} asked for"
        )
    photo = background(seed)
    corners = places(faces)
    pool = synthetic_faces()
    for k, (x, y) in zip(chosen, corners):
        photo[y : y + FACE_HEIGHT, x : x + FACE_WIDTH] = pool[k].permute(1, 2, 0).numpy()
    return DemoPhoto(photo, corners, list(chosen))


def jpeg(rgb: np.ndarray, orientation: int = 1, quality: int = 95) -> bytes:
    """JPEG bytes of an H×W×3 photo with an EXIF orientation (1 upright; 6: stored turned left, shown turned right)."""
    image = Image.fromarray(rgb)
    exif = image.getexif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality, exif=exif)
    return buffer.getvalue()
