"""Find faces in ordinary photos and align each as CelebA's crops are, so a model trained on CelebA can read them.

Models are trained on CelebA's aligned 178×218 crops, and do poorly on anything framed otherwise. CelebA's
crops were aligned on five landmarks (eye centres, nose tip, mouth corners), so the default detector, MTCNN
(faceattr.predict.mtcnn; weights from the facenet-pytorch wheel, nothing downloaded), finds those five points and a
least-squares similarity (rotation, uniform scale, translation) maps them onto the mean positions of CelebA's
aligned landmarks. The fallback, `haar`, is OpenCV's Haar cascade (bundled with opencv-python-headless 4.x in
`cv2.data`): aligned on its two eyes when the eye cascade finds them (a similarity), else on the face box
with a fixed box→crop relation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from faceattr.errors import FaceattrError

CROP_WIDTH, CROP_HEIGHT = 178, 218
# Where CelebA's aligned 178×218 crops put the five landmarks (x, y), image-left first as in CelebA's file:
# left eye, right eye, nose tip, left and right mouth corner: the means of CelebA's
# `list_landmarks_align_celeba.txt` (Liu et al., ICCV 2015). That file is not at hand here, so these are
# quoted, not recomputed; two checks agree within 1 px: the rounded means ALAE's align_faces.py quotes
# (69 111, 108 111, 88 136, 72 152, 105 152; Pidhorskyi et al., 2020), and MTCNN's own landmarks on the first
# 300 crops of img_align_celeba_fullres.zip (one face in 294), which average 1.1-2.1 px from these, MTCNN
# reading points about 1 px lower and to the right (benchmarks/README.md, "Face alignment").
CELEBA_LANDMARKS = np.array([(69.4, 111.2), (107.7, 111.2), (88.1, 135.1), (71.3, 152.1), (106.0, 152.1)])
CELEBA_LEFT_EYE = (float(CELEBA_LANDMARKS[0, 0]), float(CELEBA_LANDMARKS[0, 1]))
CELEBA_RIGHT_EYE = (float(CELEBA_LANDMARKS[1, 0]), float(CELEBA_LANDMARKS[1, 1]))

# Where the face cascade's box lies in an aligned 178×218 crop: its centre and its width (it is square).
# Measured by running `find_face_boxes` (the settings below) on the first 400 crops, in name order, of real
# CelebA's img_align_celeba (full resolution): a face in 371, largest box median x 37, y 71, w 105, centre
# (89.0, 123.5) with sd 2.7 px in x and 5.0 in y. faceattr.data.synth's faces (first 200 of seed 0; 148 found)
# give centre (88.5, 120.5) but w 124 as they are drawn larger than real faces, so real CelebA sets these.
BOX_CENTRE_IN_CROP = (89.0, 123.5)
BOX_WIDTH_IN_CROP = 105.0

FACE_CASCADE = "haarcascade_frontalface_default.xml"
EYE_CASCADE = "haarcascade_eye.xml"
INSTALL_HINT = "pip install 'opencv-python-headless<5'"

# Face search: fixed settings, so the same photo always gives the same faces. The smallest face searched
# for is 5 % of the photo's shorter side (at least 30 px): smaller ones are too coarse to classify anyway.
SCALE_FACTOR, MIN_NEIGHBORS, MIN_FACE_FRACTION, MIN_FACE_PX = 1.1, 5, 0.05, 30
# Eye search inside a face box: the band from 15 % to 60 % of its height (skips hair and mouth), eyes
# 10-35 % of the face width, and a pair only if 25-65 % of the face width apart and roughly level.
# On the 371 real CelebA faces above it finds a pair in 277; 276 of them lie within 8 px of CelebA's eye
# positions (median 2.8 px), so the centre of Haar's eye box is taken as the eye centre, with no offset.
EYE_BAND, EYE_SIZE, EYE_DISTANCE, EYE_NEIGHBORS = (0.15, 0.6), (0.10, 0.35), (0.25, 0.65), 3

Box = tuple[int, int, int, int]  # x, y, width, height in the photo's pixels
Point = tuple[float, float]


@dataclass
class Face:
    """One face of a photo and its CelebA-style crop (uint8 3×218×178).

    `box` and `eyes` (when found) are in the photo's pixels; `landmarks` (5×2, CelebA's order) and the
    detector's `probability` come with mtcnn only; `transform` is the 2×3 map from photo to crop pixels.
    """

    box: Box
    eyes: tuple[Point, Point] | None
    crop: torch.Tensor
    landmarks: np.ndarray | None = None
    probability: float | None = None
    transform: np.ndarray | None = None


def _cv2() -> Any:
    try:
        import cv2
    except ImportError:
        raise FaceattrError(f"finding faces (--detect) needs OpenCV, which is not installed: {INSTALL_HINT}") from None
    return cv2


@lru_cache(maxsize=None)
def _cascade(name: str) -> Any:
    """A Haar cascade shipped with OpenCV, loaded once."""
    cv2 = _cv2()
    folder = getattr(getattr(cv2, "data", None), "haarcascades", None)
    path = Path(folder or ".") / name
    if folder is None or not path.is_file():
        raise FaceattrError(
            f"OpenCV's Haar cascade {name} not found (this OpenCV build ships no cv2.data cascades): {INSTALL_HINT}"
        )
    cascade = cv2.CascadeClassifier(str(path))
    if cascade.empty():
        raise FaceattrError(f"{path}: could not load OpenCV's Haar cascade: {INSTALL_HINT}")
    return cascade


def similarity_to_celeba(left_eye: Point, right_eye: Point) -> np.ndarray:
    """The 2×3 similarity (rotation, uniform scale, translation) taking the two eye centres to CelebA's."""
    src = complex(*right_eye) - complex(*left_eye)
    dst = complex(*CELEBA_RIGHT_EYE) - complex(*CELEBA_LEFT_EYE)
    if abs(src) == 0:
        raise ValueError("the two eye centres coincide")
    a = dst / src  # scale·e^(i·angle)
    t = complex(*CELEBA_LEFT_EYE) - a * complex(*left_eye)
    return np.array([[a.real, -a.imag, t.real], [a.imag, a.real, t.imag]])


def similarity_from_points(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 2×3 similarity (rotation, uniform scale, translation) best taking points `src` onto `dst` (N×2 each).

    Least squares (Umeyama 1991), so a landmark that is a little off pulls the fit only a little; no
    reflection, as a face is never mirrored by alignment.
    """
    src, dst = np.asarray(src, dtype=np.float64), np.asarray(dst, dtype=np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 2 or len(src) < 2:
        raise ValueError(f"need two matching N×2 point sets (N >= 2), got {src.shape} and {dst.shape}")
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    var = (s**2).sum() / len(src)
    if var == 0:
        raise ValueError("the source points coincide")
    u, sigma, vt = np.linalg.svd(d.T @ s / len(src))
    sign = np.diag([1.0, np.sign(np.linalg.det(u @ vt)) or 1.0])
    rotation = u @ sign @ vt
    scale = (sigma * np.diag(sign)).sum() / var
    return np.hstack([scale * rotation, (mu_d - scale * rotation @ mu_s)[:, None]])


def box_to_celeba(box: Box) -> np.ndarray:
    """The 2×3 transform (scale, translation) putting a face box where the cascade's box lies in CelebA's crops."""
    x, y, w, h = box
    s = BOX_WIDTH_IN_CROP / w
    return np.array(
        [[s, 0.0, BOX_CENTRE_IN_CROP[0] - s * (x + w / 2)], [0.0, s, BOX_CENTRE_IN_CROP[1] - s * (y + h / 2)]]
    )


def align(rgb: np.ndarray, transform: np.ndarray) -> torch.Tensor:
    """Warp an H×W×3 uint8 photo into a 178×218 crop (edges replicated) as a uint8 3×218×178 tensor.

    When the face shrinks (scale < 1) the warp is done at an integer multiple of the crop size and then
    area-averaged down, so the crop is antialiased like `data.decoding.resize_to` output rather than aliased.
    """
    cv2 = _cv2()
    k = max(1, math.ceil(1 / math.hypot(transform[0, 0], transform[1, 0])))  # 1 / the transform's scale
    crop = cv2.warpAffine(
        rgb, transform * k, (CROP_WIDTH * k, CROP_HEIGHT * k), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    if k > 1:
        crop = cv2.resize(crop, (CROP_WIDTH, CROP_HEIGHT), interpolation=cv2.INTER_AREA)
    return torch.from_numpy(np.ascontiguousarray(crop)).permute(2, 0, 1).contiguous()


def find_eyes(gray: np.ndarray, box: Box) -> tuple[Point, Point] | None:
    """The centres of the two eyes inside a face box (image's left eye first), or None if no plausible pair."""
    x, y, w, h = box
    y0, y1 = y + int(EYE_BAND[0] * h), y + int(EYE_BAND[1] * h)
    lo, hi = int(EYE_SIZE[0] * w), int(EYE_SIZE[1] * w)
    found = _cascade(EYE_CASCADE).detectMultiScale(
        gray[y0:y1, x : x + w], SCALE_FACTOR, EYE_NEIGHBORS, minSize=(lo, lo), maxSize=(hi, hi)
    )
    centres = [(x + ex + ew / 2, y0 + ey + eh / 2, ew) for ex, ey, ew, eh in found]
    left = [c for c in centres if c[0] < x + w / 2]
    right = [c for c in centres if c[0] >= x + w / 2]
    if not left or not right:
        return None
    (lx, ly, _), (rx, ry, _) = max(left, key=lambda c: c[2]), max(right, key=lambda c: c[2])  # the largest
    distance = math.hypot(rx - lx, ry - ly)
    if not EYE_DISTANCE[0] * w <= distance <= EYE_DISTANCE[1] * w or abs(ry - ly) > 0.5 * distance:
        return None
    return (float(lx), float(ly)), (float(rx), float(ry))


def find_face_boxes(gray: np.ndarray) -> list[Box]:
    """Face boxes in a grayscale photo, left to right."""
    side = max(MIN_FACE_PX, int(MIN_FACE_FRACTION * min(gray.shape)))
    found = _cascade(FACE_CASCADE).detectMultiScale(gray, SCALE_FACTOR, MIN_NEIGHBORS, minSize=(side, side))
    return sorted((int(x), int(y), int(w), int(h)) for x, y, w, h in found)


DETECTORS = ("mtcnn", "haar")
DEFAULT_DETECTOR = "mtcnn"


def _mtcnn_faces(image: torch.Tensor, rgb: np.ndarray) -> list[Face]:
    """Faces by MTCNN, each aligned by the least-squares similarity of its five landmarks onto CelebA's."""
    from faceattr.predict import mtcnn

    height, width = rgb.shape[:2]
    min_face = max(mtcnn.MIN_FACE_PX, MIN_FACE_FRACTION * min(height, width))
    faces = []
    for found in mtcnn.detect(image, min_face=min_face):
        # The box as reported: inside the photo, like haar's (MTCNN's may reach past an edge; the landmarks lead).
        x0, y0 = max(0, round(found.box[0])), max(0, round(found.box[1]))
        x1, y1 = min(width, round(found.box[2])), min(height, round(found.box[3]))
        box = (x0, y0, x1 - x0, y1 - y0)
        transform = similarity_from_points(found.landmarks, CELEBA_LANDMARKS)
        eyes = (
            (float(found.landmarks[0, 0]), float(found.landmarks[0, 1])),
            (float(found.landmarks[1, 0]), float(found.landmarks[1, 1])),
        )
        faces.append(Face(box, eyes, align(rgb, transform), found.landmarks, found.probability, transform))
    return sorted(faces, key=lambda f: f.box)


def _haar_faces(rgb: np.ndarray) -> list[Face]:
    """Faces by OpenCV's Haar cascade, each aligned on its two eyes when found, else on its box."""
    gray = _cv2().cvtColor(rgb, _cv2().COLOR_RGB2GRAY)
    faces = []
    for box in find_face_boxes(gray):
        eyes = find_eyes(gray, box)
        transform = similarity_to_celeba(*eyes) if eyes else box_to_celeba(box)
        faces.append(Face(box, eyes, align(rgb, transform), transform=transform))
    return faces


def detect_faces(image: torch.Tensor, detector: str = DEFAULT_DETECTOR) -> list[Face]:
    """Every face of a uint8 3×H×W RGB photo (as `data.decoding.decode_rgb` gives), aligned as CelebA's crops, left to right.

    Safe to call from several threads at once; the same photo always gives the same faces.
    """
    if detector not in DETECTORS:
        raise FaceattrError(f"unknown face detector {detector!r}; allowed: {', '.join(DETECTORS)}")
    _cv2()  # both detectors warp with OpenCV: say so before any work
    rgb = np.ascontiguousarray(image.permute(1, 2, 0).numpy())
    return _mtcnn_faces(image, rgb) if detector == "mtcnn" else _haar_faces(rgb)
