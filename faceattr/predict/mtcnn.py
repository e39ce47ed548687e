"""MTCNN (Zhang et al., 2016): faces in a photo with five landmarks each, on weights shipped by a registry package.

Three small cascaded networks: PNet proposes face boxes over an image pyramid, RNet refines them on 24×24
crops, ONet refines them again on 48×48 crops and places five landmarks (the eye centres, the nose tip and
the mouth corners, image-left first, the order of CelebA's landmark file). The weights are the files
pnet.pt, rnet.pt and onet.pt inside the facenet-pytorch 2.6.0 wheel (MIT licence), read as plain state dicts;
facenet-pytorch's own Python code is never imported (its metadata pins torch<2.3 and numpy<2, so it is
installed with `pip install --no-deps` and may not even import here). The networks and the three stages
follow facenet-pytorch's `models/mtcnn.py` and `models/utils/detect_face.py` (their box conventions included,
so the weights see what they were trained on), with one change: a box reaching past the photo's edge is
cropped with zero padding, as in the original MTCNN, rather than clipped and stretched.

Nothing is downloaded at run time. Detection is safe from several threads at once: the networks are loaded
once (`load_nets`, cached), used in eval mode under `torch.inference_mode`, and nothing else is shared.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torchvision.ops import nms

from faceattr.errors import FaceattrError

WEIGHTS_ENV = "FACEATTR_MTCNN_WEIGHTS"  # a folder holding pnet.pt, rnet.pt and onet.pt, instead of the package's
WEIGHT_FILES = ("pnet.pt", "rnet.pt", "onet.pt")
PACKAGE = "facenet_pytorch"
INSTALL_HINT = "pip install --no-deps facenet-pytorch==2.6.0"

# facenet-pytorch's defaults (those of the original MTCNN): per-stage score thresholds and pyramid step.
THRESHOLDS = (0.6, 0.7, 0.7)
PYRAMID_FACTOR = 0.709
MIN_FACE_PX = 20.0  # PNet's window is 12 px: faces smaller than this are too coarse to place landmarks on


class PNet(nn.Module):
    """Proposal net: fully convolutional; per 12×12 window (stride 2) a face score and a box offset."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 10, kernel_size=3), nn.PReLU(10)
        self.pool1 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv2, self.prelu2 = nn.Conv2d(10, 16, kernel_size=3), nn.PReLU(16)
        self.conv3, self.prelu3 = nn.Conv2d(16, 32, kernel_size=3), nn.PReLU(32)
        self.conv4_1 = nn.Conv2d(32, 2, kernel_size=1)
        self.conv4_2 = nn.Conv2d(32, 4, kernel_size=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """N×3×H×W (scaled to [-1, 1]) → box offsets N×4×h×w, face probabilities N×h×w."""
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.prelu3(self.conv3(self.prelu2(self.conv2(x))))
        return self.conv4_2(x), F.softmax(self.conv4_1(x), dim=1)[:, 1]


class RNet(nn.Module):
    """Refinement net on 24×24 crops: a face score and a box offset per crop."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 28, kernel_size=3), nn.PReLU(28)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2, self.prelu2 = nn.Conv2d(28, 48, kernel_size=3), nn.PReLU(48)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3, self.prelu3 = nn.Conv2d(48, 64, kernel_size=2), nn.PReLU(64)
        self.dense4, self.prelu4 = nn.Linear(576, 128), nn.PReLU(128)
        self.dense5_1 = nn.Linear(128, 2)
        self.dense5_2 = nn.Linear(128, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """N×3×24×24 → box offsets N×4, face probabilities N."""
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.prelu3(self.conv3(x))
        x = self.prelu4(self.dense4(x.permute(0, 3, 2, 1).flatten(1)))  # the weights' (Caffe) flatten order
        return self.dense5_2(x), F.softmax(self.dense5_1(x), dim=1)[:, 1]


class ONet(nn.Module):
    """Output net on 48×48 crops: a face score, a box offset and five landmarks per crop."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 32, kernel_size=3), nn.PReLU(32)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2, self.prelu2 = nn.Conv2d(32, 64, kernel_size=3), nn.PReLU(64)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3, self.prelu3 = nn.Conv2d(64, 64, kernel_size=3), nn.PReLU(64)
        self.pool3 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv4, self.prelu4 = nn.Conv2d(64, 128, kernel_size=2), nn.PReLU(128)
        self.dense5, self.prelu5 = nn.Linear(1152, 256), nn.PReLU(256)
        self.dense6_1 = nn.Linear(256, 2)
        self.dense6_2 = nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """N×3×48×48 → box offsets N×4, landmarks N×10 (five x then five y, as fractions of the crop), probabilities N."""
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.pool3(self.prelu3(self.conv3(x)))
        x = self.prelu4(self.conv4(x))
        x = self.prelu5(self.dense5(x.permute(0, 3, 2, 1).flatten(1)))
        return self.dense6_2(x), self.dense6_3(x), F.softmax(self.dense6_1(x), dim=1)[:, 1]


def weights_folder() -> Path:
    """Where pnet.pt, rnet.pt and onet.pt are: $FACEATTR_MTCNN_WEIGHTS, else facenet_pytorch/data (found, not imported)."""
    override = os.environ.get(WEIGHTS_ENV)
    if override:
        folder, how = Path(override), f"{WEIGHTS_ENV}={override}"
    else:
        spec = importlib.util.find_spec(PACKAGE)  # a top-level name: finding it runs none of its code
        locations = list(spec.submodule_search_locations or []) if spec is not None else []
        if not locations:
            raise FaceattrError(
                f"the mtcnn detector needs MTCNN's weights from the facenet-pytorch package, which "
                f"is not installed: {INSTALL_HINT} (its torch/numpy pins are too old for a normal "
                f"install; only its weight files are read), or set {WEIGHTS_ENV} to a folder holding "
                f"{', '.join(WEIGHT_FILES)}; or use --detector haar"
            )
        folder, how = Path(locations[0]) / "data", f"package {PACKAGE}"
    for name in WEIGHT_FILES:
        if not (folder / name).is_file():
            raise FaceattrError(
                f"{folder / name}: MTCNN weights file not found (from {how}): {INSTALL_HINT}, or set "
                f"{WEIGHTS_ENV} to a folder holding {', '.join(WEIGHT_FILES)}; or use --detector haar"
            )
    return folder


@lru_cache(maxsize=4)
def _load(folder: Path) -> tuple[PNet, RNet, ONet]:
    nets = (PNet(), RNet(), ONet())
    for net, name in zip(nets, WEIGHT_FILES):
        path = folder / name
        try:
            net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        except Exception as exc:  # a truncated file, another network's weights, a pickle that is not a state dict
            raise FaceattrError(
                f"{path}: not MTCNN weights that fit {type(net).__name__} ({exc}); reinstall: {INSTALL_HINT}"
            ) from None
        net.eval().requires_grad_(False)
    return nets


def load_nets() -> tuple[PNet, RNet, ONet]:
    """The three networks with their weights, in eval mode; loaded once per weights folder and shared (read-only)."""
    return _load(weights_folder())


@dataclass(frozen=True)
class Detection:
    """One face: its box (x0, y0, x1, y1 in photo pixels), ONet's face probability and its five landmarks (5×2 x, y)."""

    box: tuple[float, float, float, float]
    probability: float
    landmarks: np.ndarray


def _pyramid(height: int, width: int, min_face: float) -> list[float]:
    """Scales at which PNet's 12-px window covers faces from `min_face` px up to the photo's shorter side."""
    scale, side, scales = 12.0 / min_face, min(height, width) * 12.0 / min_face, []
    while side >= 12:
        scales.append(scale)
        scale, side = scale * PYRAMID_FACTOR, side * PYRAMID_FACTOR
    return scales


def _normalise(x: torch.Tensor) -> torch.Tensor:
    return (x - 127.5) * 0.0078125


def _square(boxes: torch.Tensor) -> torch.Tensor:
    """Each box grown to a square on its longer side, about its centre (facenet-pytorch's `rerec`)."""
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    side = torch.maximum(w, h)
    x0, y0 = boxes[:, 0] + 0.5 * (w - side), boxes[:, 1] + 0.5 * (h - side)
    return torch.cat([torch.stack([x0, y0, x0 + side, y0 + side], 1), boxes[:, 4:]], 1)


def _regress(boxes: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """Boxes moved by a network's offsets, given as fractions of the box's size (facenet-pytorch's `bbreg`)."""
    size = (boxes[:, 2:4] - boxes[:, 0:2] + 1).repeat(1, 2)
    return torch.cat([boxes[:, :4] + offsets * size, boxes[:, 4:]], 1)


def _crops(image: torch.Tensor, boxes: torch.Tensor, size: int) -> torch.Tensor:
    """Each box's pixels (1-based inclusive corners, as the stages keep them) resized to size×size; zero outside."""
    _, height, width = image.shape
    out = []
    for x0, y0, x1, y1 in boxes[:, :4].trunc().int().tolist():
        patch = image.new_zeros((3, max(1, y1 - y0 + 1), max(1, x1 - x0 + 1)))
        sx0, sy0, sx1, sy1 = max(x0 - 1, 0), max(y0 - 1, 0), min(x1, width), min(y1, height)
        if sx1 > sx0 and sy1 > sy0:
            patch[:, sy0 - (y0 - 1) : sy1 - (y0 - 1), sx0 - (x0 - 1) : sx1 - (x0 - 1)] = image[:, sy0:sy1, sx0:sx1]
        out.append(F.interpolate(patch[None], size=(size, size), mode="area"))
    return _normalise(torch.cat(out))


def _nms_min(boxes: torch.Tensor, scores: torch.Tensor, threshold: float) -> torch.Tensor:
    """Greedy NMS on intersection over the smaller box, so a box lying inside a stronger one goes (ONet's last step)."""
    order = scores.argsort(descending=True, stable=True).tolist()
    area = (boxes[:, 2] - boxes[:, 0] + 1) * (boxes[:, 3] - boxes[:, 1] + 1)
    keep: list[int] = []
    for i in order:
        if keep:
            k = torch.tensor(keep)
            lt, rb = torch.maximum(boxes[k, :2], boxes[i, :2]), torch.minimum(boxes[k, 2:4], boxes[i, 2:4])
            inter = (rb - lt + 1).clamp(min=0).prod(1)
            if (inter / torch.minimum(area[k], area[i]) > threshold).any():
                continue
        keep.append(i)
    return torch.tensor(keep, dtype=torch.long)


def _stage1(pnet: PNet, image: torch.Tensor, min_face: float) -> torch.Tensor:
    """Candidate boxes (x0, y0, x1, y1, score) over the image pyramid, squared."""
    _, height, width = image.shape
    found = []
    for scale in _pyramid(height, width, min_face):
        scaled = F.interpolate(image[None], size=(int(height * scale + 1), int(width * scale + 1)), mode="area")
        offsets, probs = pnet(_normalise(scaled))
        ys, xs = torch.nonzero(probs[0] >= THRESHOLDS[0], as_tuple=True)
        if len(ys) == 0:
            continue
        cells = torch.stack([xs, ys], 1).to(image.dtype)
        boxes = torch.cat(
            [
                ((2 * cells + 1) / scale).floor(),
                ((2 * cells + 12) / scale).floor(),
                probs[0, ys, xs, None],
                offsets[0, :, ys, xs].T,
            ],
            1,
        )
        found.append(boxes[nms(boxes[:, :4], boxes[:, 4], 0.5)])
    if not found:
        return image.new_zeros((0, 5))
    boxes = torch.cat(found)
    boxes = boxes[nms(boxes[:, :4], boxes[:, 4], 0.7)]
    size = (boxes[:, 2:4] - boxes[:, 0:2]).repeat(1, 2)  # PNet's offsets are fractions of w, h without the +1
    return _square(torch.cat([boxes[:, :4] + boxes[:, 5:9] * size, boxes[:, 4:5]], 1))


def _shrink(image: torch.Tensor, k: int) -> torch.Tensor:
    """The photo's k×k block means (float), computed in bands so a large photo is never held as float whole."""
    c, h, w = image.shape
    h, w = h // k * k, w // k * k
    out = torch.empty((c, h // k, w // k), dtype=torch.float32)
    rows = max(1, (1 << 22) // (c * w * k))  # output rows per band: about 4M input values at a time
    for y in range(0, h // k, rows):
        band = image[:, y * k : min(h, (y + rows) * k), :w].to(torch.float32)
        out[:, y : y + band.shape[1] // k] = F.avg_pool2d(band[None], k)[0]
    return out


def detect(image: torch.Tensor, min_face: float = MIN_FACE_PX) -> list[Detection]:
    """Faces in a uint8 3×H×W RGB photo, strongest first: box, probability and five landmarks each.

    Deterministic for a given photo and torch build; `min_face` (px) is the smallest face searched for.
    ONet reads every face at 48×48, so when even the smallest face wanted is k ≥ 2 times that, the photo is
    first shrunk k times (block means) and the results scaled back: a 12-megapixel photo then costs about
    what a 1.3-megapixel one does, and loses nothing ONet would see.
    """
    if image.ndim != 3 or image.shape[0] != 3:
        raise FaceattrError(f"MTCNN needs a 3×H×W RGB image, got shape {tuple(image.shape)}")
    k = int(min_face // 48)
    if k < 2:
        return _detect(image.to(torch.float32), max(float(min_face), 12.0))
    found = _detect(_shrink(image, k), min_face / k)
    # Box edges scale by k; a pixel centre x of the shrunk photo is the mean of original pixels kx … kx+k-1.
    return [Detection(tuple(k * v for v in d.box), d.probability, k * d.landmarks + (k - 1) / 2) for d in found]


def _detect(img: torch.Tensor, min_face: float) -> list[Detection]:
    """The three stages on a float 3×H×W photo (0-255)."""
    pnet, rnet, onet = load_nets()
    with torch.inference_mode():
        boxes = _stage1(pnet, img, min_face)
        if len(boxes):
            offsets, probs = rnet(_crops(img, boxes, 24))
            keep = probs > THRESHOLDS[1]
            boxes, offsets = torch.cat([boxes[keep, :4], probs[keep, None]], 1), offsets[keep]
            pick = nms(boxes[:, :4], boxes[:, 4], 0.7)
            boxes = _square(_regress(boxes[pick], offsets[pick]))
        if not len(boxes):
            return []
        offsets, points, probs = onet(_crops(img, boxes, 48))
        keep = probs > THRESHOLDS[2]
        boxes, offsets, points = torch.cat([boxes[keep, :4], probs[keep, None]], 1), offsets[keep], points[keep]
        size = boxes[:, 2:4] - boxes[:, 0:2] + 1
        landmarks = torch.stack(
            [points[:, :5] * size[:, :1] + boxes[:, :1] - 1, points[:, 5:] * size[:, 1:2] + boxes[:, 1:2] - 1], 2
        )  # N×5×2, 0-based pixels
        boxes = _regress(boxes, offsets)
        pick = _nms_min(boxes[:, :4], boxes[:, 4], 0.7)
        boxes, landmarks = boxes[pick], landmarks[pick]
    # Boxes are kept 1-based inclusive through the stages (the weights' convention); report 0-based pixels.
    return [
        Detection((b[0] - 1, b[1] - 1, b[2], b[3]), b[4], np.array(lm, dtype=np.float64))
        for b, lm in zip(boxes.tolist(), landmarks.tolist())
    ]
