"""One loaded model answering photos (faces, probabilities, heat maps), shared by a web server's threads.

The model loads once. Plain predictions run concurrently (eval mode, inference mode: nothing of the model
changes); Grad-CAM serialises itself (faceattr.explain.gradcam's lock); face detection is serialised here, because
OpenCV's cascades are shared objects that OpenCV does not promise to be safe to use from two threads.
The answers are those of `faceattr predict --format json` (with `--detect` unless the photo is an aligned
crop), computed by the same functions, so the page and the command never disagree.
"""

from __future__ import annotations

import base64
import contextlib
import io
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from faceattr.data.input_limits import MAX_MEGAPIXELS
from faceattr.errors import FaceattrError
from faceattr.predict.answer_rows import answer_row, like_an_aligned_crop

# An aligned image larger than this (height, width) is shrunk before a heat map is drawn over it: the
# page shows it at crop size, and blending a 50-megapixel image would cost seconds.
MAX_SHOWN = (436, 356)
# The most faces answered per photo (the largest): each costs a crop in the reply (a 300-face photo's was 23.6 MB).
DEFAULT_MAX_FACES = 50


@dataclass
class Analysis:
    """What one photo holds: per face its row (as `faceattr predict --format json` writes it), its box,
    the crop shown to a person and the model's input."""

    name: str
    width: int
    height: int
    aligned: bool
    rows: list[dict] = field(default_factory=list)
    boxes: list[list[int]] = field(default_factory=list)
    shown: list[torch.Tensor] = field(default_factory=list)  # uint8 3×H×W each
    inputs: list[torch.Tensor] = field(default_factory=list)  # uint8 3×h×w each, at the model's input size
    warnings: list[str] = field(default_factory=list)
    faces_found: int = 0  # faces detected; more than len(boxes) when over the service's max_faces


def largest_faces(boxes: list[list[int]], most: int) -> list[int]:
    """The indices of the `most` largest boxes ([x, y, width, height]) in their own order (the earlier of equal
    ones first), so that the faces kept are numbered as they were found."""
    if len(boxes) <= most:
        return list(range(len(boxes)))
    by_size = sorted(range(len(boxes)), key=lambda k: -boxes[k][2] * boxes[k][3])
    return sorted(by_size[:most])


def png_bytes(rgb: np.ndarray) -> bytes:
    """An H×W×3 uint8 array as PNG (fast compression: a web page waits for it, loopback carries it)."""
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _shrunk(image: torch.Tensor) -> torch.Tensor:
    """`image` scaled down (aspect kept) to fit MAX_SHOWN, or as it is when it fits."""
    from faceattr.data.decoding import resize_to

    h, w = image.shape[1:]
    scale = min(1.0, MAX_SHOWN[0] / h, MAX_SHOWN[1] / w)
    return image if scale == 1.0 else resize_to(image, (max(1, round(h * scale)), max(1, round(w * scale))))


class Service:
    """A model file loaded once, with the options of `faceattr predict`, answering one photo per call."""

    def __init__(
        self,
        model: str | Path,
        threshold: float | None = None,
        precision: str = "auto",
        detector: str | None = None,
        max_megapixels: float = MAX_MEGAPIXELS,
        max_faces: int = DEFAULT_MAX_FACES,
    ) -> None:
        from faceattr.device import use_bf16
        from faceattr.model.model_file import load_model
        from faceattr.predict.detect import DEFAULT_DETECTOR, DETECTORS

        if detector is not None and detector not in DETECTORS:
            raise FaceattrError(f"--detector: expected one of {', '.join(DETECTORS)}, got {detector!r}")
        self.model_path = Path(model)
        self.model, self.spec = load_model(self.model_path)
        # per attribute: the model's own thresholds, or `threshold` for all when given
        self.thresholds = dict(zip(self.spec.attributes, self.spec.decision_thresholds(threshold)))
        self.precision = precision
        self.bf16 = use_bf16(torch.device("cpu"), precision)
        self.detector = detector or DEFAULT_DETECTOR
        self.max_megapixels = max_megapixels
        self.max_faces = max_faces
        # OpenCV's Haar cascades are shared objects: one detection at a time. MTCNN holds no state between
        # calls (tests/test_detect.py runs it from several threads), so its requests detect side by side.
        self._detect_lock = threading.Lock() if self.detector == "haar" else contextlib.nullcontext()
        self._warm_up()

    def _warm_up(self) -> None:
        """One prediction and one heat map on a blank image, so the first request does not pay for the model's
        conversion to channels_last, oneDNN's kernel choice and the like."""
        from faceattr.evaluate.evaluation import predict_probabilities
        from faceattr.explain.gradcam import grad_cam

        blank = torch.zeros((1, 3, *self.spec.image_size), dtype=torch.uint8)
        predict_probabilities(self.model, self.spec, blank, bf16=self.bf16)
        grad_cam(self.model, self.spec, blank, 0)

    def analyse(self, data: bytes, name: str, aligned: bool = False) -> Analysis:
        """Decode a photo, find and align its faces (unless `aligned`: the photo is one aligned crop) and
        predict every attribute of each. A non-image or an image over the size limit is a FaceattrError."""
        from faceattr.data.decoding import decode_rgb, resize_to
        from faceattr.evaluate.evaluation import predict_probabilities
        from faceattr.predict.detect import detect_faces

        image = decode_rgb(data, name, upright=not aligned, max_megapixels=self.max_megapixels)
        found = Analysis(name, int(image.shape[2]), int(image.shape[1]), aligned)
        size = self.spec.image_size
        if aligned:
            if not like_an_aligned_crop(tuple(image.shape[1:]), size):
                found.warnings.append(
                    f"{name} ({found.width}×{found.height}) is not shaped like an aligned face "
                    f"crop; answers on ordinary photos mean little: turn the switch off to find "
                    f"and align the faces"
                )
            found.boxes.append([0, 0, found.width, found.height])
            found.faces_found = 1
            found.shown.append(_shrunk(image))
            found.inputs.append(resize_to(image, size))
            wheres: list[dict] = [{}]
        else:
            with self._detect_lock:
                faces = detect_faces(image, self.detector)
            if not faces:
                found.warnings.append(f"{name}: no face found")
            found.faces_found = len(faces)
            if len(faces) > self.max_faces:
                faces = [faces[k] for k in largest_faces([list(f.box) for f in faces], self.max_faces)]
                found.warnings.append(
                    f"{name}: {found.faces_found} faces found; only the {self.max_faces} largest are answered "
                    f"(--max-faces)"
                )
            for face in faces:
                found.boxes.append(list(face.box))
                found.shown.append(face.crop)
                found.inputs.append(resize_to(face.crop, size))
            wheres = [{"face": k, "box": box} for k, box in enumerate(found.boxes)]
        if found.inputs:
            prob = predict_probabilities(self.model, self.spec, torch.stack(found.inputs), bf16=self.bf16)
            found.rows = [
                answer_row(name, where, p, self.spec.attributes, list(self.thresholds.values()))
                for where, p in zip(wheres, prob)
            ]
        return found

    def attribute_index(self, attribute: str) -> int:
        """The model's index of `attribute`; an error naming the parameter and the allowed names otherwise."""
        if attribute not in self.spec.attributes:
            raise FaceattrError(
                f"attribute: {attribute[:100]!r} is not one of the model's attributes "
                f"({', '.join(self.spec.attributes)})"
            )
        return self.spec.attributes.index(attribute)

    def face_index(self, found: Analysis, face: int) -> int:
        """`face` checked against the faces found; an error naming the parameter otherwise."""
        if not found.inputs:
            raise FaceattrError(f"face: no face found in {found.name}")
        if not 0 <= face < len(found.inputs):
            raise FaceattrError(
                f"face: {face} is out of range; {found.name} has {len(found.inputs)} face(s), numbered from 0"
            )
        return face

    def heat_map(self, found: Analysis, face: int, attribute: str, against: bool = False) -> tuple[bytes, float]:
        """Grad-CAM of `attribute` for one face, blended over its crop, as PNG bytes; and its probability."""
        from faceattr.explain.gradcam import grad_cam
        from faceattr.explain.heatmaps import overlay

        index = self.attribute_index(attribute)
        face = self.face_index(found, face)
        result = grad_cam(self.model, self.spec, found.inputs[face][None], index, against=against)
        return png_bytes(overlay(found.shown[face], result.heat[0])), float(result.probability[0])

    def describe(self) -> dict:
        """What the page and `GET /api/model` show about the model (its provenance is looked up separately)."""
        return {
            "file": self.model_path.name,
            "arch": self.spec.arch,
            "alpha": self.spec.alpha,
            "attributes": list(self.spec.attributes),
            "input_size": {"height": self.spec.image_size[0], "width": self.spec.image_size[1]},
            "thresholds": self.thresholds,
            "precision": "bf16" if self.bf16 else "fp32",
            "detector": self.detector,
            "max_megapixels": self.max_megapixels,
            "max_faces": self.max_faces,
        }
