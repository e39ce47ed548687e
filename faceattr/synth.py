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
"""

from __future__ import annotations

import io
import math
import os
import zipfile
from pathlib import Path
from contextlib import contextmanager
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from faceattr.atomic import atomic_path, write_text
from faceattr.attributes import CELEBA_ATTRIBUTES
from faceattr.errors import FaceattrError

__all__ = ["BOXES_FILE", "CELEBA_ATTRIBUTES", "RENDERED_ATTRIBUTES", "face_with_eyes", "generate_dataset",
           "read_boxes", "render_sample_grid"]

# Attributes the renderer draws visibly; their labels match the picture exactly. The other four
# (Attractive, High_Cheekbones, Oval_Face, Pointy_Nose) are sampled labels with no visual cue
# (High_Cheekbones is correlated with Smiling, Attractive with Young and sex, as in CelebA).
RENDERED_ATTRIBUTES: tuple[str, ...] = tuple(
    a for a in CELEBA_ATTRIBUTES if a not in ("Attractive", "High_Cheekbones", "Oval_Face", "Pointy_Nose")
)

IMAGE_WIDTH, IMAGE_HEIGHT = 178, 218
# Beside the CelebA-format files (not part of them): where each image's glasses and hat were drawn, as
# image_id,attribute,x0,y0,x1,y1 in the 178×218 image's pixels, so tests can check where a model looks.
BOXES_FILE = "attribute_boxes.csv"
BOXED_ATTRIBUTES = ("Eyeglasses", "Wearing_Hat")
ZIP_DIR = "img_align_celeba"
EYES = "eyes"  # _render's record of the eye centres (left x, y, right x, y); not an attribute, not in BOXES_FILE
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)

# The person is drawn at 2x straight onto the (upscaled) background, with the pose (rotation, scale,
# shift) applied to every coordinate, then box-reduced to 1x: antialiased and cheap (no resampling pass).
_S = 2
_ZOOM = 1.14  # how much larger than the nominal geometry below faces are drawn, on average
_CX, _CY = 89.0, 118.0  # face centre (widest line of the face) in image coordinates

RGB = tuple  # an (r, g, b) tuple of ints


# --------------------------------------------------------------------------------------------- colours
def _mix(c1: Sequence[float], c2: Sequence[float], t: float) -> RGB:
    return tuple(int(round(a + (b - a) * t)) for a, b in zip(c1, c2))


def _shade(c: Sequence[float], f: float) -> RGB:
    return tuple(int(max(0, min(255, round(v * f)))) for v in c)


def _jitter(rng: np.random.Generator, c: Sequence[float], amount: float) -> RGB:
    return tuple(int(max(0, min(255, round(v + rng.uniform(-amount, amount))))) for v in c)


def _luma(c: Sequence[float]) -> float:
    return 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]


_HAIR_BASE = {
    "black": ((18, 16, 18), (42, 36, 36)),
    "brown": ((88, 52, 30), (135, 88, 52)),
    "blond": ((205, 170, 100), (242, 218, 150)),
    "gray": ((150, 150, 154), (215, 215, 220)),
}
_HAIR_OTHER = [(128, 44, 28), (185, 82, 38), (160, 52, 34), (150, 60, 45)]  # auburn, ginger, red, copper
# Hats come in clear colours unlike any hair colour, so a hat is never mistaken for hair (or back).
_HAT_COLOURS = [(200, 30, 40), (30, 60, 180), (30, 140, 60), (120, 40, 150), (230, 60, 150), (20, 150, 160),
                (238, 238, 238), (30, 40, 95), (90, 200, 230), (150, 210, 60)]
_EYE_COLOURS = [(92, 56, 30), (48, 32, 22), (70, 120, 172), (78, 122, 80), (122, 96, 52)]
_LIPSTICK = [(196, 18, 44), (168, 10, 58), (222, 52, 92), (140, 16, 30), (205, 40, 40)]
_EYESHADOW = [(52, 88, 205), (140, 52, 165), (40, 150, 90), (215, 70, 150), (95, 55, 40), (30, 150, 190)]
_FRAME_COLOURS = [(18, 18, 22), (62, 34, 20), (24, 30, 78), (92, 18, 24), (30, 30, 30)]
_LENS = [(150, 175, 200), (170, 170, 175), (200, 170, 120), (140, 190, 170)]
_METALS = [(236, 196, 70), (226, 226, 236), (250, 244, 232), (200, 40, 60), (60, 160, 220)]


# ------------------------------------------------------------------------------------ label sampling
def _sample_identity(seed: int, ident: int) -> dict[str, Any]:
    """What stays fixed for a person: sex, age, skin, face shape, hair, beard, habits."""
    r = np.random.default_rng([seed, 1, ident])
    u = r.random
    male = u() < 0.417
    young = u() < (0.66 if male else 0.855)
    pale = u() < (0.018 if male else 0.062)
    if pale:
        skin = _jitter(r, (252, 238, 228), 3)
    else:
        t = float(r.beta(1.4, 2.4))
        light, mid, dark = (236, 196, 166), (198, 146, 110), (124, 82, 58)
        skin = _mix(light, mid, t / 0.5) if t < 0.5 else _mix(mid, dark, (t - 0.5) / 0.5)
        skin = _jitter(r, skin, 5)
    if not young:
        skin = _mix(skin, (_luma(skin),) * 3, 0.2)
    chubby = u() < (0.02 + (0.07 if male else 0.025) + (0.0 if young else 0.03))
    double_chin = u() < (0.5 if chubby else (0.09 if not young else 0.004))
    bald = male and u() < (0.01 if young else 0.13)
    if bald:
        hair = None
    elif u() < (0.004 if young else 0.17):
        hair = "gray"
    else:
        w = [0.20, 0.25, 0.24, 0.31] if not male else [0.34, 0.03, 0.19, 0.44]
        hair = ["black", "blond", "brown", "other"][int(r.choice(4, p=w))]
    if hair is None:
        hair_rgb = (0, 0, 0)
    elif hair == "other":
        hair_rgb = _jitter(r, _HAIR_OTHER[int(r.choice(len(_HAIR_OTHER), p=[.3, .3, .25, .15]))], 10)
    else:
        lo, hi = _HAIR_BASE[hair]
        hair_rgb = _mix(lo, hi, float(u()))
    if bald:
        length = "none"
    elif male:
        length = "short" if u() < 0.85 else "medium"
    else:
        length = ["long", "bob", "bun"][int(r.choice(3, p=[0.65, 0.2, 0.15]))]
    if bald:
        texture = "none"
    elif u() < (0.14 if male else 0.45):
        texture = "wavy"
    elif u() < (0.22 if male else 0.45):
        texture = "straight"
    else:
        texture = "plain"
    receding = (not bald) and u() < ((0.07 if young else 0.3) if male else (0.02 if young else 0.08))
    bangs = (not bald) and (not receding) and u() < (0.06 if male else 0.22)
    beard = "none"
    stubble = sideburns = False
    if male:
        beard = ["none", "goatee", "mustache", "goatee_mustache", "chinstrap"][
            int(r.choice(5, p=[0.785, 0.05, 0.06, 0.045, 0.06]))]
        stubble = beard == "none" and u() < 0.3
        sideburns = beard == "chinstrap" or ((not bald) and u() < 0.08)
    if hair is None:
        facial_rgb = (58, 50, 46)
    elif hair == "blond":
        facial_rgb = _shade(hair_rgb, 0.66)
    elif hair == "gray":
        facial_rgb = _shade(hair_rgb, 0.78)
    else:
        facial_rgb = _shade(hair_rgb, 0.9)
    brow_rgb = (66, 58, 54) if hair is None else (_shade(hair_rgb, 0.7) if hair != "black" else hair_rgb)
    if hair == "blond":
        brow_rgb = _shade(hair_rgb, 0.55)
    a = (45.0 if male else 42.0) + r.uniform(-2, 2) + (6 if chubby else 0)
    return {
        "male": male, "young": young, "pale": pale, "skin": skin, "chubby": chubby,
        "double_chin": double_chin, "bald": bald, "hair": hair, "hair_rgb": hair_rgb, "length": length,
        "texture": texture, "receding": receding, "bangs": bangs, "beard": beard, "stubble": stubble,
        "sideburns": sideburns, "facial_rgb": facial_rgb, "brow_rgb": brow_rgb,
        "bushy": u() < (0.25 if male else 0.065), "arched": u() < (0.06 if male else 0.42),
        "big_lips": u() < (0.19 if male else 0.28), "big_nose": u() < (0.42 if male else 0.10),
        "bags": u() < (0.14 if young else 0.45),
        "glasses_wearer": u() < (0.08 if young else 0.17),
        "makeup_user": (not male) and u() < (0.8 if young else 0.6),
        "lipstick_user": (not male) and u() < 0.5,
        "earring_user": (not male) and u() < 0.45,
        "oval": u() < 0.284, "pointy": u() < 0.277,
        "attractive": u() < ((0.35 if young else 0.12) if male else (0.75 if young else 0.35)),
        "eye_rgb": _EYE_COLOURS[int(r.integers(len(_EYE_COLOURS)))],
        "a": a, "bu": 64.0 + r.uniform(-2, 2), "bl": (59.0 if male else 55.0) + r.uniform(-2, 2),
        "jaw_p": (r.uniform(2.3, 2.8) if male else r.uniform(1.75, 2.05)) if not chubby else 2.2,
        "eye_dy": r.uniform(-2, 2), "eye_sep": r.uniform(18, 20.5), "mouth_w": r.uniform(-1, 1.5),
        "hairline": r.uniform(-2, 3), "wave_phase": r.uniform(0, 2 * math.pi),
        "hair_volume": r.uniform(0.0, 1.0), "hat_pref": int(r.integers(3)),
    }


def _sample_image(r: np.random.Generator, who: dict[str, Any]) -> dict[str, Any]:
    """What changes from photo to photo of one person."""
    u = r.random
    smiling = u() < 0.482
    mouth_open = u() < (0.75 if smiling else 0.22)
    makeup = who["makeup_user"] and u() < 0.85
    return {
        "smiling": smiling, "mouth_open": mouth_open,
        "high_cheekbones": u() < (0.8 if smiling else 0.13),
        "glasses": who["glasses_wearer"] and u() < 0.65,
        "hat": u() < 0.0485,
        "makeup": makeup,
        "lipstick": makeup or (who["lipstick_user"] and u() < 0.9),
        "narrow": u() < 0.115,
        "rosy": u() < (0.02 if who["male"] else 0.10),
        "earrings": who["earring_user"] and u() < 0.7,
        "necklace": u() < (0.004 if who["male"] else 0.2),
        "necktie": who["male"] and u() < 0.17,
        "blurry": u() < 0.05,
    }


def _labels(who: dict[str, Any], img: dict[str, Any]) -> dict[str, bool]:
    hair = who["hair"]
    beard = who["beard"]
    return {
        "5_o_Clock_Shadow": who["stubble"], "Arched_Eyebrows": who["arched"], "Attractive": who["attractive"],
        "Bags_Under_Eyes": who["bags"], "Bald": who["bald"], "Bangs": who["bangs"],
        "Big_Lips": who["big_lips"], "Big_Nose": who["big_nose"], "Black_Hair": hair == "black",
        "Blond_Hair": hair == "blond", "Blurry": img["blurry"], "Brown_Hair": hair == "brown",
        "Bushy_Eyebrows": who["bushy"], "Chubby": who["chubby"], "Double_Chin": who["double_chin"],
        "Eyeglasses": img["glasses"], "Goatee": beard in ("goatee", "goatee_mustache", "chinstrap"),
        "Gray_Hair": hair == "gray", "Heavy_Makeup": img["makeup"], "High_Cheekbones": img["high_cheekbones"],
        "Male": who["male"], "Mouth_Slightly_Open": img["mouth_open"],
        "Mustache": beard in ("mustache", "goatee_mustache"), "Narrow_Eyes": img["narrow"],
        "No_Beard": beard == "none", "Oval_Face": who["oval"], "Pale_Skin": who["pale"],
        "Pointy_Nose": who["pointy"], "Receding_Hairline": who["receding"], "Rosy_Cheeks": img["rosy"],
        "Sideburns": who["sideburns"], "Smiling": img["smiling"], "Straight_Hair": who["texture"] == "straight",
        "Wavy_Hair": who["texture"] == "wavy", "Wearing_Earrings": img["earrings"], "Wearing_Hat": img["hat"],
        "Wearing_Lipstick": img["lipstick"], "Wearing_Necklace": img["necklace"],
        "Wearing_Necktie": img["necktie"], "Young": who["young"],
    }


# ------------------------------------------------------------------------------------------ drawing
class _Pen:
    """ImageDraw in face coordinates: applies the pose (rotate/scale about the face centre, shift) and _S."""

    def __init__(self, draw: ImageDraw.ImageDraw, angle: float, scale: float, dx: float, dy: float):
        self.d = draw
        self.k = scale * _S
        self.c, self.s = math.cos(angle) * self.k, math.sin(angle) * self.k
        self.ox, self.oy = (_CX + dx) * _S, (_CY + dy) * _S
        self.boxes: dict[str, list[float]] = {}  # canvas-pixel boxes of what was drawn under `recording`
        self._region: list[float] | None = None

    @contextmanager
    def recording(self, name: str) -> Iterator[None]:
        """Record the bounding box (x0, y0, x1, y1) of everything drawn inside the block under `name`."""
        self._region = self.boxes.setdefault(name, [math.inf, math.inf, -math.inf, -math.inf])
        try:
            yield
        finally:
            self._region = None

    def _grow(self, x: float, y: float, pad: float = 0.0) -> None:
        box = self._region
        box[0], box[1] = min(box[0], x - pad), min(box[1], y - pad)
        box[2], box[3] = max(box[2], x + pad), max(box[3], y + pad)

    def p(self, x: float, y: float) -> tuple[float, float]:
        x -= _CX
        y -= _CY
        out = (self.ox + self.c * x - self.s * y, self.oy + self.s * x + self.c * y)
        if self._region is not None:
            self._grow(*out)
        return out

    def w(self, width: float) -> int:
        return max(1, int(round(width * self.k)))

    def poly(self, pts: Iterable[tuple[float, float]], fill: RGB) -> None:
        self.d.polygon([self.p(x, y) for x, y in pts], fill=fill)

    def line(self, pts: Iterable[tuple[float, float]], fill: RGB, width: float) -> None:
        points = [self.p(x, y) for x, y in pts]
        if self._region is not None:  # a line's stroke reaches half its width beyond its points
            for x, y in points:
                self._grow(x, y, self.w(width) / 2)
        self.d.line(points, fill=fill, width=self.w(width), joint="curve")

    def ellipse(self, x: float, y: float, rx: float, ry: float, fill: RGB | None = None,
                outline: RGB | None = None, width: float = 1.0) -> None:
        n = max(12, min(48, int((rx + ry) * 0.8)))
        pts = _arc(x, y, rx, ry, 0.0, 2 * math.pi * (n - 1) / n, n)
        if fill is not None:
            self.poly(pts, fill)
        if outline is not None:
            self.line(pts + pts[:2], outline, width)

    def rrect(self, x0: float, y0: float, x1: float, y1: float, radius: float, fill: RGB | None = None,
              outline: RGB | None = None, width: float = 1.0) -> None:
        r = min(radius, (x1 - x0) / 2, (y1 - y0) / 2)
        pts = (_arc(x1 - r, y0 + r, r, r, 0.0, math.pi / 2, 6) + _arc(x0 + r, y0 + r, r, r, math.pi / 2, math.pi, 6)
               + _arc(x0 + r, y1 - r, r, r, math.pi, 1.5 * math.pi, 6)
               + _arc(x1 - r, y1 - r, r, r, 1.5 * math.pi, 2 * math.pi, 6))
        if fill is not None:
            self.poly(pts, fill)
        if outline is not None:
            self.line(pts + pts[:2], outline, width)


def _arc(cx: float, cy: float, rx: float, ry: float, a0: float, a1: float, n: int = 24) -> list[tuple[float, float]]:
    """Points on an ellipse; angles in radians, 0 = right, pi/2 = up (image y grows downwards)."""
    return [(cx + rx * math.cos(a0 + (a1 - a0) * i / (n - 1)), cy - ry * math.sin(a0 + (a1 - a0) * i / (n - 1)))
            for i in range(n)]


def _wavy(pts: list[tuple[float, float]], amp: float, period: float, phase: float) -> list[tuple[float, float]]:
    """Displace a polyline sideways (along its normal) by a sine of its arc length."""
    out, s = [], 0.0
    for i, (x, y) in enumerate(pts):
        if i:
            s += math.hypot(x - pts[i - 1][0], y - pts[i - 1][1])
        j0, j1 = max(0, i - 1), min(len(pts) - 1, i + 1)
        tx, ty = pts[j1][0] - pts[j0][0], pts[j1][1] - pts[j0][1]
        n = math.hypot(tx, ty) or 1.0
        off = amp * math.sin(2 * math.pi * s / period + phase)
        out.append((x - ty / n * off, y + tx / n * off))
    return out


def _densify(pts: list[tuple[float, float]], step: float = 2.0) -> list[tuple[float, float]]:
    out = [pts[0]]
    for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
        k = max(1, int(math.hypot(x1 - x0, y1 - y0) / step))
        out.extend((x0 + (x1 - x0) * i / k, y0 + (y1 - y0) * i / k) for i in range(1, k + 1))
    return out


class _Face:
    """Geometry of one face (image coordinates, before pose)."""

    def __init__(self, who: dict[str, Any], img: dict[str, Any]):
        self.cx, self.cy = _CX, _CY
        self.a, self.bu, self.bl, self.p = who["a"], who["bu"], who["bl"], who["jaw_p"]
        self.eye_y = 112.0 + who["eye_dy"]
        self.es = who["eye_sep"]
        self.brow_y = self.eye_y - 11.5
        self.nose_y = self.eye_y + 22.0 + (2.0 if who["big_nose"] else 0.0)
        self.mouth_y = self.eye_y + 39.0
        self.chin_y = self.cy + self.bl
        self.hairline = (71.0 if who["male"] else 73.0) + who["hairline"]

    def half_width(self, y: float) -> float:
        if y <= self.cy:
            t = min(1.0, (self.cy - y) / self.bu)
            return self.a * math.sqrt(max(0.0, 1 - t * t))
        t = min(1.0, (y - self.cy) / self.bl)
        return self.a * max(0.0, 1 - t ** self.p) ** (1 / self.p)

    def outline(self, n: int = 40) -> list[tuple[float, float]]:
        upper = _arc(self.cx, self.cy, self.a, self.bu, 0.0, math.pi, n)
        lower = []
        for i in range(n + 1):
            t = i / n
            y = self.cy + self.bl * t
            w = self.a * max(0.0, 1 - t ** self.p) ** (1 / self.p)
            lower.append((self.cx - max(w, 0.0), y))
        lower += [(2 * self.cx - x, y) for x, y in reversed(lower[:-1])]
        return upper + lower

    def jaw(self, side: int, y0: float, shrink: float = 0.0, n: int = 24) -> list[tuple[float, float]]:
        """Face contour on one side (-1 left, +1 right) from y0 down to the chin, pulled in by `shrink`."""
        pts = []
        for i in range(n + 1):
            y = y0 + (self.chin_y - y0) * i / n
            w = max(0.0, self.half_width(y) - shrink)
            pts.append((self.cx + side * w, y - (shrink * 0.9 if i == n else 0.0)))
        return pts


def _draw_background(r: np.random.Generator) -> Image.Image:
    h, w = IMAGE_HEIGHT, IMAGE_WIDTH
    c0 = r.uniform(20, 235, 3)
    c1 = r.uniform(20, 235, 3)
    ang = r.uniform(0, 2 * math.pi)
    ca, sa = math.cos(ang), math.sin(ang)
    xs = (np.arange(w, dtype=np.float32) - w / 2) * ca
    ys = (np.arange(h, dtype=np.float32) - h / 2) * sa
    span = abs(ca) * w + abs(sa) * h
    t = (ys[:, None] + xs[None, :]) / span + 0.5
    bg = c0.astype(np.float32) + t[..., None] * (c1 - c0).astype(np.float32)
    img = Image.fromarray(bg.astype(np.uint8), "RGB")
    d = ImageDraw.Draw(img)
    for _ in range(int(r.integers(4, 11))):
        kind = int(r.integers(4))
        col = tuple(int(v) for v in r.integers(0, 256, 3))
        x0, y0 = float(r.uniform(-30, w)), float(r.uniform(-30, h))
        x1, y1 = x0 + float(r.uniform(10, 90)), y0 + float(r.uniform(10, 90))
        if kind == 0:
            d.ellipse((x0, y0, x1, y1), fill=col)
        elif kind == 1:
            d.rectangle((x0, y0, x1, y1), fill=col)
        elif kind == 2:
            d.line((x0, y0, x1 + r.uniform(-60, 60), y1), fill=col, width=int(r.integers(2, 9)))
        else:
            pts = [(float(r.uniform(x0, x1 + 40)), float(r.uniform(y0, y1 + 40))) for _ in range(3)]
            d.polygon(pts, fill=col)
    if r.random() < 0.5:  # out-of-focus background
        img = img.filter(ImageFilter.BoxBlur(float(r.uniform(1.0, 3.0))))
    return img


def _draw_person(r: np.random.Generator, who: dict[str, Any], img: dict[str, Any], pen: _Pen) -> None:
    f = _Face(who, img)
    cx, cy, a = f.cx, f.cy, f.a
    skin = who["skin"]
    skin_dark = _shade(skin, 0.84)
    line_col = _shade(skin, 0.62)
    hair_rgb = who["hair_rgb"]
    hl = _luma(hair_rgb) if who["hair"] else 0.0
    wavy = who["texture"] == "wavy"
    straight = who["texture"] == "straight"
    # wavy hair: voluminous, scalloped outline, thick high-contrast wavy strands; straight: sleek, fine strands
    if wavy:
        strand = _shade(hair_rgb, 0.45) if hl > 90 else _mix(hair_rgb, (215, 205, 195), 0.5)
    else:
        strand = _shade(hair_rgb, 0.72) if hl > 90 else _mix(hair_rgb, (200, 190, 180), 0.28)
    strand_w = 1.8 if wavy else 1.0
    phase = who["wave_phase"]
    length = who["length"]
    vol = 3.0 + 4.0 * who["hair_volume"] + (9.0 if wavy else 0.0)

    # torso and clothes
    cloth = tuple(int(v) for v in r.integers(15, 240, 3))
    nw = a * (0.5 if not who["male"] else 0.56) + (4 if who["chubby"] else 0)
    sh_y = 194.0
    torso = [(cx - nw - 4, sh_y - 2), (cx - nw - 30, sh_y + 6), (cx - 95, sh_y + 20), (cx - 120, 260),
             (cx + 120, 260), (cx + 95, sh_y + 20), (cx + nw + 30, sh_y + 6), (cx + nw + 4, sh_y - 2)]
    pen.poly(torso, cloth)

    # long hair behind the head and over the shoulders
    if length in ("long", "bob"):
        bottom = 232.0 if length == "long" else cy + 44
        half_top, half_bot = a + vol + 2, a + vol + (14 if length == "long" else 6)
        for side in (-1, 1):
            edge = [(cx + side * half_top, cy - 30), (cx + side * (half_top + 2), cy + 10),
                    (cx + side * half_bot, bottom)]
            edge = _densify(edge, 2.0)
            if wavy:
                edge = _wavy(edge, 6.5, 22.0, phase)
            inner = [(cx + side * (nw - 2), bottom), (cx + side * (nw - 2), cy)]
            pen.poly(edge + inner, hair_rgb)
        pen.poly(_arc(cx, cy - 8, a + vol, f.bu + vol - 6, -0.3, math.pi + 0.3, 36), hair_rgb)
        if length == "bob":
            pen.poly([(cx - half_bot, bottom - 1), (cx + half_bot, bottom - 1), (cx + nw, cy), (cx - nw, cy)],
                     hair_rgb)
    elif length == "bun":
        pen.ellipse(cx + (8 if who["hat_pref"] == 1 else 0), cy - f.bu - 6, 15, 13, fill=hair_rgb)
    elif length == "medium":
        for side in (-1, 1):
            pen.poly([(cx + side * (a - 8), cy - 40), (cx + side * (a + vol), cy - 20),
                      (cx + side * (a + vol - 1), cy + 18), (cx + side * (a - 6), cy + 18)], hair_rgb)

    # neck
    neck = _shade(skin, 0.86)
    pen.poly([(cx - nw, cy + 20), (cx - nw - 1, sh_y + 4), (cx - nw + 8, 250), (cx + nw - 8, 250),
              (cx + nw + 1, sh_y + 4), (cx + nw, cy + 20)], neck)
    # neckline
    if img["necktie"]:
        shirt = (238, 238, 240) if r.random() < 0.7 else (170, 200, 235)
        pen.poly([(cx - nw - 6, sh_y - 4), (cx + nw + 6, sh_y - 4), (cx + 30, 250), (cx - 30, 250)], shirt)
        jacket = _shade(cloth, 0.6)
        for side in (-1, 1):
            pen.poly([(cx + side * (nw + 6), sh_y - 4), (cx + side * 14, 250), (cx + side * 120, 250),
                      (cx + side * 95, sh_y + 20)], jacket)
            pen.poly([(cx + side * (nw + 2), sh_y - 8), (cx + side * 1, sh_y + 6), (cx + side * (nw + 4), sh_y + 10)],
                     shirt)
        tie = tuple(int(v) for v in r.integers(0, 256, 3))
        if max(tie) - min(tie) < 60:
            tie = (170, 20, 30)
        pen.poly([(cx - 5, sh_y), (cx + 5, sh_y), (cx + 4, sh_y + 8), (cx - 4, sh_y + 8)], _shade(tie, 0.85))
        pen.poly([(cx - 4, sh_y + 8), (cx + 4, sh_y + 8), (cx + 10, 240), (cx, 248), (cx - 10, 240)], tie)
        for k in range(3):
            yy = sh_y + 14 + 8 * k
            pen.line([(cx - 6 - k, yy), (cx + 6 + k, yy + 5)], _shade(tie, 0.55), 1.6)
    elif who["male"]:  # crew neck
        pen.poly(_arc(cx, sh_y - 5, nw + 3, 8, math.pi, 2 * math.pi, 16) + [(cx + nw + 40, 250), (cx - nw - 40, 250)],
                 cloth)
        pen.line(_arc(cx, sh_y - 5, nw + 3, 8, math.pi, 2 * math.pi, 16), _shade(cloth, 0.8), 1.2)
    else:
        depth = float(r.uniform(10, 22))
        pen.poly([(cx - nw - 8, sh_y - 3), (cx - nw + 2, sh_y + depth * 0.6), (cx, sh_y + depth),
                  (cx + nw - 2, sh_y + depth * 0.6), (cx + nw + 8, sh_y - 3)], neck)
    if img["necklace"]:
        metal = _METALS[int(r.integers(len(_METALS)))]
        chain = _arc(cx, sh_y - 10, nw - 3, 16, math.pi + 0.25, 2 * math.pi - 0.25, 20)
        pen.line(chain, metal, 2.0)
        bottom = chain[len(chain) // 2]
        pen.ellipse(bottom[0], bottom[1] + 3, 3.2, 4.0, fill=metal, outline=_shade(metal, 0.6), width=0.8)
    # chin shadow on the neck
    pen.ellipse(cx, f.chin_y - 2, a * 0.5, 8, fill=_mix(neck, _shade(skin, 0.7), 0.5))

    # short / top hair mass behind the face
    if length in ("short", "medium", "bun"):
        pen.poly(_arc(cx, cy - 6, a + vol * 0.6, f.bu + vol * 0.6 - 4, -0.12, math.pi + 0.12, 36), hair_rgb)

    # ears
    ear_y = f.eye_y + 12
    ear_x = f.half_width(ear_y)
    for side in (-1, 1):
        ex = cx + side * (ear_x + 2.5)
        pen.ellipse(ex, ear_y, 6.5, 13.5, fill=skin_dark)
        pen.ellipse(ex + side * 1.0, ear_y - 1, 3.2, 8.5, fill=_shade(skin, 0.7))

    # face
    outline = f.outline()
    if who["double_chin"]:
        pen.ellipse(cx, f.chin_y + 1, a * 0.52, 9, fill=_shade(skin, 0.95))
        pen.line(_arc(cx, f.chin_y + 1, a * 0.5, 8.5, math.pi + 0.35, 2 * math.pi - 0.35, 14), line_col, 1.6)
    pen.poly(outline, skin)
    # soft cheek shading for a rounder look
    for side in (-1, 1):
        pen.ellipse(cx + side * (a - 4), cy + 14, 5, 18, fill=_mix(skin, skin_dark, 0.5))

    if who["stubble"]:
        stub = _mix(skin, (70, 72, 84), 0.2)
        left = f.jaw(-1, f.nose_y - 2, 1.5)
        right = f.jaw(1, f.nose_y - 2, 1.5)
        pen.poly(left + list(reversed(right)), stub)
        ys = r.uniform(f.nose_y + 2, f.chin_y - 2, 420)
        xs = np.array([r.uniform(-1, 1) * (f.half_width(y) - 3) for y in ys]) + cx
        dots = [pen.p(float(x), float(y)) for x, y in zip(xs, ys)]
        pen.d.point(dots, fill=_mix(skin, (40, 40, 48), 0.6))

    # old age: wrinkles, folds, crow's feet, sagging
    es, ey = f.es, f.eye_y
    mw = 11.0 + who["mouth_w"] + (6.0 if img["smiling"] else 0.0)
    my = f.mouth_y
    if not who["young"]:
        old_line = _shade(skin, 0.5)
        for side in (-1, 1):  # sagging jowls and sunken eyes
            jy = my - 4
            pen.poly([(cx + side * (f.half_width(jy) - 1), jy), (cx + side * (f.half_width(jy) - 8), jy + 2),
                      (cx + side * (mw + 7), f.chin_y - 8), (cx + side * (f.half_width(f.chin_y - 6) - 1), f.chin_y - 6)],
                     _shade(skin, 0.82))
            pen.ellipse(cx + side * es, ey + 0.5, 11.5, 8.0, fill=_shade(skin, 0.86))
            for k in range(3):  # cheek lines
                x0 = cx + side * (a * 0.62 + 2.5 * k)
                pen.line([(x0, ey + 12 + 2 * k), (x0 - side * 1.5, ey + 24 + 2 * k)], old_line, 1.5)
        for k, dy in enumerate((6.5, 11.5, 16.5, 21.5)):
            w = a * (0.58 - 0.05 * k)
            pen.line(_arc(cx, f.brow_y - dy + 4, w, 4, math.pi * 0.15, math.pi * 0.85, 12), old_line, 2.4)
        for side in (-1, 1):
            pen.line([(cx + side * 9, f.nose_y - 5), (cx + side * (mw + 4), my - 4),
                      (cx + side * (mw + 6), my + 5)], old_line, 2.6)
            pen.line([(cx + side * (mw + 1), my + 4), (cx + side * (mw + 3), my + 15)], old_line, 1.8)
            ox = cx + side * (es + 10)
            for k in (-1, 0, 1):
                pen.line([(ox, ey + k * 1.5), (ox + side * 7, ey + k * 4.5)], old_line, 1.5)
            pen.line(_arc(cx + side * es, ey + 6, 8, 2.5, math.pi * 1.15, math.pi * 1.85, 8), old_line, 1.5)
    if img["rosy"]:
        rose = _mix(skin, (238, 80, 105), 0.55)
        for side in (-1, 1):
            pen.ellipse(cx + side * (es + 6), f.nose_y - 1, 8.5, 6.5, fill=rose)

    # sideburns and beard, always clearly darker than the skin
    facial = who["facial_rgb"]
    if _luma(facial) > 0.55 * _luma(skin):
        facial = _shade(facial, 0.55 * _luma(skin) / max(1.0, _luma(facial)))
    if who["sideburns"]:
        for side in (-1, 1):
            y0, y1 = ey - 10, ey + 18
            pen.poly([(cx + side * (f.half_width(y0) + 1), y0), (cx + side * (f.half_width(y0) - 8), y0),
                      (cx + side * (f.half_width(y1) - 7), y1), (cx + side * (f.half_width(y1) + 0.5), y1)], facial)
    if who["beard"] == "chinstrap":
        y0 = ey + 14
        outer = f.jaw(-1, y0, -0.5) + list(reversed(f.jaw(1, y0, -0.5)))
        inner = f.jaw(-1, y0, 7.5) + list(reversed(f.jaw(1, y0, 7.5)))
        pen.poly(outer + list(reversed(inner)), facial)

    # eyes: shadow, whites, irises, lids, lashes
    narrow = img["narrow"]
    eh = 2.2 if narrow else (3.3 if img["smiling"] else 3.9)
    ew = 7.6
    gw, gh = 13.5, 9.8  # glasses lens half-size
    for side in (-1, 1):
        ex = cx + side * es
        if img["glasses"]:  # tinted lens behind the eye
            pen.rrect(ex - gw, ey + 0.5 - gh, ex + gw, ey + 0.5 + gh, 4.5 if not img["_round_frames"] else gh,
                      fill=_mix(skin, img["_lens_rgb"], 0.3))
        if who["bags"]:
            pen.line(_arc(ex, ey + 4.5, 8, 4.5, math.pi * 1.1, math.pi * 1.9, 10), _mix(skin, (110, 70, 110), 0.4), 2.6)
        if img["makeup"]:
            pen.poly(_arc(ex, ey - 1, ew + 4, eh + 6.5, 0.0, math.pi, 16) + [(ex - ew - 3, ey + 1), (ex + ew + 3, ey + 1)],
                     img["_eyeshadow"])
        else:
            pen.line(_arc(ex, ey - 0.5, ew + 1, eh + 3, math.pi * 0.15, math.pi * 0.85, 10), _shade(skin, 0.8), 1.3)
        pen.ellipse(ex, ey, ew, eh, fill=(246, 244, 240))
        ir = min(3.5, eh + 0.2)
        pen.ellipse(ex, ey + 0.2, ir, min(ir, eh), fill=who["eye_rgb"])
        pen.ellipse(ex, ey + 0.2, ir * 0.45, min(ir, eh) * 0.45, fill=(12, 10, 10))
        pen.ellipse(ex + 1.0, ey - 0.8, 0.7, 0.7, fill=(255, 255, 255))
        lid = _arc(ex, ey, ew, eh, 0.0, math.pi, 14)
        lid_w = 2.6 if img["makeup"] else (1.6 if not who["male"] else 1.2)
        pen.line(lid, (25, 18, 18), lid_w)
        if img["makeup"]:
            pen.line([lid[0 if side > 0 else -1], (ex + side * (ew + 4), ey - 3.5)], (20, 15, 15), 2.0)
        pen.line(_arc(ex, ey, ew, eh, math.pi, 2 * math.pi, 12), _shade(skin, 0.7), 0.8)

    # eyebrows
    thick = 5.5 if who["bushy"] else (3.4 if who["male"] else 2.2)
    arch = 4.5 if who["arched"] else 1.2
    for side in (-1, 1):
        bx = cx + side * es
        pts = [(bx - side * 9, f.brow_y + 1.5), (bx + side * 1, f.brow_y - arch * 0.8),
               (bx + side * 5, f.brow_y - arch), (bx + side * 11, f.brow_y + (2.5 if who["arched"] else 1.0))]
        pts = _densify(pts, 1.5)
        n = len(pts)
        for i in range(n - 1):
            wgt = thick * (1.0 - 0.45 * i / n)
            pen.line([pts[i], pts[i + 1]], who["brow_rgb"], wgt)
        if who["bushy"]:
            for i in range(0, n - 1, 2):
                x, y = pts[i]
                pen.line([(x, y + thick * 0.5), (x + side * 2.0, y - thick * 0.6)], _shade(who["brow_rgb"], 0.8), 1.0)

    # nose
    big = who["big_nose"]
    nwid = 7.5 if big else 5.5
    ny = f.nose_y
    pen.line([(cx - 3.5, ey + 2), (cx - 4.5, ny - 7)], _shade(skin, 0.86), 1.6)
    pen.poly(_arc(cx, ny - 1, nwid + 2, 5.5 if big else 4.5, math.pi * 1.0, math.pi * 2.0, 16), _shade(skin, 0.9))
    for side in (-1, 1):
        pen.line(_arc(cx + side * (nwid - 0.5), ny - 2, 3.5, 4, math.pi * (0.5 if side > 0 else -0.5),
                      math.pi * (-0.6 if side > 0 else 1.6), 8), _shade(skin, 0.66), 1.3)
        pen.ellipse(cx + side * (nwid * 0.45), ny + 0.5, 2.2 if big else 1.6, 1.2, fill=_shade(skin, 0.35))
    pen.line(_arc(cx, ny - 1.5, nwid * 0.45, 2.2, math.pi * 1.15, math.pi * 1.85, 8), _shade(skin, 0.7), 1.0)

    # mouth
    lip = img["_lip_rgb"] if img["lipstick"] else _mix(skin, (175, 70, 75), 0.42)
    ut = (3.4 if who["big_lips"] else 2.4)
    lt = (5.0 if who["big_lips"] else 3.4)
    curve = 9.0 if img["smiling"] else -1.0
    gap = (11.0 if img["smiling"] else 4.0) if img["mouth_open"] else 0.0
    if not who["young"]:
        ut *= 0.75

    def mline(x: float) -> float:
        return my - curve * (x / mw) ** 2

    xs = [mw * (2 * i / 20 - 1) for i in range(21)]
    top = [(cx + x, mline(x) - gap * 0.25 * (1 - (x / mw) ** 2)) for x in xs]
    bot = [(cx + x, mline(x) + gap * (1 - (x / mw) ** 2) ** 0.8) for x in xs]
    upper = [(cx + x, y - ut * (1 - (x / mw) ** 2) ** 0.6 - (0.8 if abs(x) < mw * 0.25 else 0.0))
             for x, (_, y) in zip(xs, top)]
    lower = [(cx + x, y + lt * (1 - (x / mw) ** 2) ** 0.6) for x, (_, y) in zip(xs, bot)]
    if img["smiling"] and not img["mouth_open"]:
        for side in (-1, 1):  # dimples at the mouth corners
            pen.line(_arc(cx + side * (mw + 1.5), my - curve - 0.5, 2.5, 3.5, math.pi * (0.7 if side < 0 else -0.3),
                          math.pi * (1.3 if side < 0 else 0.3), 6), line_col, 1.6)
    pen.poly(upper + list(reversed(top)), lip)
    pen.poly(bot + list(reversed(lower)), lip)
    if gap > 0:
        pen.poly(top + list(reversed(bot)), (70, 18, 26))
        if img["smiling"]:
            teeth_bot = [(x, y + min(5.0, (by - y) * 0.6)) for (x, y), (_, by) in zip(top, bot)]
            pen.poly(top[2:-2] + list(reversed(teeth_bot[2:-2])), (250, 248, 240))
    pen.line(top if gap == 0 else top[1:-1], _shade(lip, 0.4), 2.4 if img["smiling"] and gap == 0 else 1.1)

    if who["beard"] in ("mustache", "goatee_mustache"):
        mx0 = mw + 3.5

        def lip_top(x: float) -> float:  # top edge of the upper lip; beyond the corners it droops outwards
            xc = max(-mw, min(mw, x))
            t = 1 - (xc / mw) ** 2
            return mline(xc) - gap * 0.25 * t - ut * t ** 0.6 + max(0.0, abs(x) - mw) * 0.9

        mxs = [mx0 * (2 * i / 16 - 1) for i in range(17)]
        mbot = [(cx + x, lip_top(x) - 0.3) for x in mxs]
        mtop = [(cx + x, y - 9.0 * (1 - 0.55 * (x / mx0) ** 2)) for (_, y), x in zip(mbot, mxs)]
        pen.poly(mtop + list(reversed(mbot)), facial)
    if who["beard"] in ("goatee", "goatee_mustache", "chinstrap"):
        gy = max(y for _, y in lower) + 1.5
        gw = 9.0 if who["beard"] != "chinstrap" else f.half_width(gy) - 4
        pts = [(cx - gw, gy), (cx - gw * 0.6, gy - 1.5), (cx, gy - 0.5), (cx + gw * 0.6, gy - 1.5), (cx + gw, gy)]
        bottom_pts = [(cx + t * gw * 0.9, f.chin_y + 2.5 - 2.5 * t * t) for t in (1, 0.5, 0, -0.5, -1)]
        pen.poly(pts + bottom_pts, facial)

    # hair on the head
    if who["hair"] is not None:
        hx = a + vol * (0.6 if length in ("short", "medium", "bun") else 1.0)
        hy = f.bu + vol * (0.6 if length in ("short", "medium", "bun") else 1.0)
        hcy = cy - 6
        top_y = hcy - hy
        hairline = f.hairline - (10 if who["receding"] else 0)
        temple_y = ey - (4 if who["male"] else 10)
        side_w = f.half_width(temple_y)
        outer = _arc(cx, hcy, hx, hy, math.asin(max(-1, min(1, (hcy - temple_y) / hy))),
                     math.pi - math.asin(max(-1, min(1, (hcy - temple_y) / hy))), 40)
        outer = [(x, y) for x, y in outer]
        if wavy and length in ("short", "medium", "bun"):
            outer = _wavy(_densify(outer, 2.0), 4.0, 13.0, phase)
        elif wavy:
            outer = _wavy(_densify(outer, 2.0), 4.5, 18.0, phase)
        if who["receding"]:
            line_pts = [(cx - side_w + 1, temple_y), (cx - a * 0.72, hairline + 12), (cx - a * 0.45, hairline - 2),
                        (cx - a * 0.2, hairline + 6), (cx, hairline + 9), (cx + a * 0.2, hairline + 6),
                        (cx + a * 0.45, hairline - 2), (cx + a * 0.72, hairline + 12), (cx + side_w - 1, temple_y)]
        else:
            line_pts = [(cx - side_w + 1, temple_y), (cx - a * 0.8, hairline + 12), (cx - a * 0.5, hairline + 3),
                        (cx, hairline), (cx + a * 0.5, hairline + 3), (cx + a * 0.8, hairline + 12),
                        (cx + side_w - 1, temple_y)]
        # outer runs right->left over the top; the hairline goes back left->right
        pen.poly(outer + line_pts, hair_rgb)
        # side locks framing the face (long hair and bobs)
        if length in ("long", "bob"):
            lock_bottom = cy + (34 if length == "long" else 30)
            for side in (-1, 1):
                edge = _densify([(cx + side * (side_w - 6), temple_y - 6), (cx + side * (f.half_width(cy) - 6), cy),
                                 (cx + side * (f.half_width(lock_bottom) - 1), lock_bottom)], 2.0)
                if wavy:
                    edge = _wavy(edge, 2.0, 12.0, phase + side)
                pen.poly(edge + [(cx + side * (a + vol + 2), lock_bottom + 4), (cx + side * (a + vol + 2), temple_y - 10)],
                         hair_rgb)
        if who["bangs"]:
            by = f.brow_y - 4.5
            fringe_top = hairline - 4
            xs_b = [cx + (a - 3) * (2 * i / 12 - 1) for i in range(13)]
            bottom = []
            for i, x in enumerate(xs_b):
                dy = 3.0 * (abs(x - cx) / a) ** 2
                bottom.append((x, by - dy + (2.0 if i % 2 else -1.0) * (1.6 if wavy else 1.0)))
            pen.poly([(cx - a + 1, fringe_top + 12), (cx - a * 0.5, fringe_top), (cx + a * 0.5, fringe_top),
                      (cx + a - 1, fringe_top + 12)] + list(reversed(bottom)), hair_rgb)
            for x, y in bottom[1:-1]:
                pts = _densify([(x, fringe_top + 6), (x, y - 1)], 2.0)
                if wavy:
                    pts = _wavy(pts, 1.5, 8.0, phase + x)
                pen.line(pts, strand, strand_w * 0.8)
        # strands
        if straight or wavy:
            n_str = 11 if wavy else 9
            for i in range(n_str):
                t = (i + 0.5) / n_str
                ang = math.pi * (0.12 + 0.76 * t)
                x0, y0 = cx + hx * 0.15 * math.cos(ang), hcy - hy * 0.98
                x1 = cx + (hx - 3) * math.cos(ang)
                y1 = hcy - (hy - 3) * math.sin(ang)
                y1 = max(y1, hairline - 2 if abs(x1 - cx) < a * 0.5 else y1)
                pts = _densify([(x0, y0 + 3), ((x0 + x1) / 2, (y0 + y1) / 2 - 2), (x1, min(y1, temple_y - 4))], 2.0)
                if wavy:
                    pts = _wavy(pts, 2.6, 10.0, phase + i)
                pen.line(pts, strand, strand_w)
            if length in ("long", "bob"):
                bottom = 228.0 if length == "long" else cy + 40
                for side in (-1, 1):
                    n_side = 4 if wavy else 3
                    for k in range(n_side):
                        x = cx + side * (a + 2 + k * (vol + 6) / n_side)
                        pts = _densify([(x, cy - 10 + 6 * k), (x + side * (4 + 3 * k), bottom - 6 * k)], 2.0)
                        if wavy:
                            pts = _wavy(pts, 4.0, 15.0, phase + k)
                        pen.line(pts, strand, strand_w)
    elif who["bald"]:
        pen.ellipse(cx + 8, cy - f.bu + 14, 12, 6, fill=_mix(skin, (255, 255, 255), 0.3))

    # glasses
    if img["glasses"]:
        fc = img["_frame_rgb"]
        with pen.recording("Eyeglasses"):
            for side in (-1, 1):
                ex = cx + side * es
                pen.rrect(ex - gw, ey + 0.5 - gh, ex + gw, ey + 0.5 + gh, 4.5 if not img["_round_frames"] else gh,
                          outline=fc, width=3.2)
                pen.line([(ex + side * (gw - 1), ey - 3), (cx + side * (f.half_width(ey) + 3), ey - 2)], fc, 2.6)
                pen.line([(ex - 7, ey + 5), (ex - 2, ey - 5)], _mix(fc, (255, 255, 255), 0.8), 1.0)
            pen.line(_arc(cx, ey - 1, max(1.5, es - gw + 1), 2.5, 0.0, math.pi, 8), fc, 3.0)

    # hat
    if img["hat"]:
        with pen.recording("Wearing_Hat"):
            hc = img["_hat_rgb"]
            dark = _shade(hc, 0.7)
            hb = f.hairline + 9 + img["_hat_drop"]
            hx = a + 9
            kind = who["hat_pref"] if r.random() < 0.7 else int(r.integers(3))
            top = cy - f.bu - 14
            if kind == 0:  # beanie
                dome = _arc(cx, hb, hx, hb - top, 0.0, math.pi, 30)
                pen.poly(dome, hc)
                pen.poly([(cx - hx - 1, hb - 11), (cx + hx + 1, hb - 11), (cx + hx + 1, hb + 1), (cx - hx - 1, hb + 1)], dark)
                for k in range(-6, 7):
                    pen.line([(cx + k * hx / 7, hb - 10), (cx + k * hx / 7, hb)], _shade(hc, 0.55), 0.9)
                if r.random() < 0.5:
                    pen.ellipse(cx, top - 3, 8, 7, fill=_mix(hc, (255, 255, 255), 0.5))
            elif kind == 1:  # brimmed hat
                pen.ellipse(cx, hb - 4, hx + 22, 9, fill=dark)
                pen.rrect(cx - a * 0.82, top - 6, cx + a * 0.82, hb - 4, 10, fill=hc)
                band = tuple(int(v) for v in r.integers(0, 256, 3))
                pen.poly([(cx - a * 0.82, hb - 13), (cx + a * 0.82, hb - 13), (cx + a * 0.82, hb - 6),
                          (cx - a * 0.82, hb - 6)], band)
                pen.line(_arc(cx, hb - 4, hx + 22, 9, math.pi, 2 * math.pi, 24), _shade(hc, 0.5), 1.2)
            else:  # cap with a visor
                dome = _arc(cx, hb, hx - 1, hb - top + 2, 0.0, math.pi, 30)
                pen.poly(dome, hc)
                pen.poly(_arc(cx, hb - 1, hx - 4, 11, math.pi, 2 * math.pi, 20), dark)
                pen.line([(cx, top + 2), (cx, hb - 2)], dark, 1.2)
                pen.ellipse(cx, top + 3, 3, 2.5, fill=dark)

    # earrings
    if img["earrings"]:
        metal = _METALS[int(r.integers(len(_METALS)))]
        style = int(r.integers(3))
        for side in (-1, 1):
            ex = cx + side * (ear_x + 2.5)
            ly = ear_y + 12.5
            if style == 0:
                pen.ellipse(ex, ly + 5, 5, 5.5, outline=metal, width=1.8)
            elif style == 1:
                pen.line([(ex, ly), (ex, ly + 6)], metal, 1.4)
                pen.ellipse(ex, ly + 9, 3.2, 4.2, fill=metal, outline=_shade(metal, 0.6), width=0.7)
            else:
                pen.ellipse(ex, ly + 1.5, 3.3, 3.3, fill=metal, outline=_shade(metal, 0.6), width=0.7)


_NOISE_BANK: np.ndarray | None = None


def _noise_bank() -> np.ndarray:
    global _NOISE_BANK
    if _NOISE_BANK is None:
        _NOISE_BANK = np.random.default_rng(20240517).standard_normal(1 << 20, dtype=np.float32)
    return _NOISE_BANK


Boxes = dict[str, tuple[float, float, float, float]]  # attribute -> (x0, y0, x1, y1) in image pixels


def _render(seed: int, idx: int, who: dict[str, Any], quality: tuple[int, int]) -> tuple[dict[str, bool], bytes, Boxes]:
    """One image: its labels, its JPEG bytes and the boxes of the drawn objects in BOXED_ATTRIBUTES."""
    r = np.random.default_rng([seed, 2, idx])
    img = _sample_image(r, who)
    img["_eyeshadow"] = _EYESHADOW[int(r.integers(len(_EYESHADOW)))]
    img["_lip_rgb"] = _LIPSTICK[int(r.integers(len(_LIPSTICK)))]
    img["_frame_rgb"] = _FRAME_COLOURS[int(r.integers(len(_FRAME_COLOURS)))]
    img["_round_frames"] = bool(r.random() < 0.4)
    img["_lens_rgb"] = _LENS[int(r.integers(len(_LENS)))]
    img["_hat_rgb"] = _jitter(r, _HAT_COLOURS[int(r.integers(len(_HAT_COLOURS)))], 18)
    img["_hat_drop"] = float(r.uniform(-2, 4))
    labels = _labels(who, img)

    bg = _draw_background(r)
    canvas = bg.resize((IMAGE_WIDTH * _S, IMAGE_HEIGHT * _S), Image.Resampling.NEAREST)
    angle = math.radians(r.uniform(-10, 10))
    scale = _ZOOM * r.uniform(0.93, 1.07)
    dx, dy = r.uniform(-5, 5), r.uniform(-5, 5)
    pen = _Pen(ImageDraw.Draw(canvas), angle, scale, dx, dy)
    _draw_person(r, who, img, pen)
    boxes = {name: (max(0.0, x0 / _S), max(0.0, y0 / _S), min(float(IMAGE_WIDTH), x1 / _S),
                    min(float(IMAGE_HEIGHT), y1 / _S)) for name, (x0, y0, x1, y1) in pen.boxes.items()}
    # The eye centres as drawn, posed, in image pixels (canvas pixels 2j, 2j+1 average into pixel j, whose
    # centre is canvas coordinate 2j + 0.5); kept beside the boxes for `face_with_eyes`, never written out.
    f = _Face(who, img)
    (lx, ly), (rx, ry) = (pen.p(f.cx + side * f.es, f.eye_y) for side in (-1, 1))
    boxes[EYES] = ((lx - 0.5) / _S, (ly - 0.5) / _S, (rx - 0.5) / _S, (ry - 0.5) / _S)
    out = np.asarray(canvas.reduce(_S), dtype=np.float32)

    # lighting: directional gradient, brightness, contrast, per-channel colour gains
    la = r.uniform(0, 2 * math.pi)
    strength = r.uniform(0.0, 0.22)
    yy = np.linspace(-1, 1, IMAGE_HEIGHT, dtype=np.float32)[:, None]
    xx = np.linspace(-1, 1, IMAGE_WIDTH, dtype=np.float32)[None, :]
    contrast = np.float32(r.uniform(0.8, 1.15))
    bright = r.uniform(0.86, 1.12)
    grad = (bright + bright * strength * (math.cos(la) * xx + math.sin(la) * yy)).astype(np.float32)
    gains = r.uniform(0.94, 1.06, 3).astype(np.float32)
    out -= 128.0
    out *= contrast
    out += 128.0
    out *= grad[..., None]
    out *= gains
    if img["blurry"]:
        pil = Image.fromarray(np.clip(out, 0, 255).astype(np.uint8), "RGB")
        out = np.asarray(pil.filter(ImageFilter.GaussianBlur(float(r.uniform(1.3, 2.0)))), dtype=np.float32)
    # Gaussian pixel noise: a random window of a fixed bank (drawing fresh normals costs more than the face)
    sigma = np.float32(r.uniform(1.5, 6.0))
    bank = _noise_bank()
    off = int(r.integers(0, bank.size - out.size))
    out += bank[off:off + out.size].reshape(out.shape) * sigma
    out += 0.5
    final = Image.fromarray(np.clip(out, 0, 255).astype(np.uint8), "RGB")
    q = int(r.integers(quality[0], quality[1] + 1))
    buf = io.BytesIO()
    final.save(buf, format="JPEG", quality=q)
    return labels, buf.getvalue(), boxes


def _render_task(args: tuple[int, int, dict[str, Any], tuple[int, int]]) -> tuple[dict[str, bool], bytes, Boxes]:
    return _render(*args)


# ------------------------------------------------------------------------------------------- output
def _plan_identities(count: int, seed: int, images_per_identity: tuple[int, int]) -> list[tuple[int, int, int, int]]:
    """(identity id, first image index, image count, split) for consecutive runs of images.

    Splits are contiguous blocks of ~80/10/10 %; an identity never crosses a block boundary, so no
    identity spans two splits, and with 3 or more images every split is non-empty.
    """
    lo, hi = images_per_identity
    if lo < 1 or hi < lo:
        raise FaceattrError(f"synth.images_per_identity must be (lo, hi) with 1 <= lo <= hi, got {images_per_identity!r}")
    if count >= 3:
        b1 = max(1, min(count - 2, int(round(0.8 * count))))
        b2 = max(b1 + 1, min(count - 1, int(round(0.9 * count))))
    else:
        b1, b2 = count, count
    plan, pos, ident = [], 0, 0
    while pos < count:
        ident += 1
        n = int(np.random.default_rng([seed, 3, ident]).integers(lo, hi + 1))
        nxt = min(b for b in (b1, b2, count) if b > pos)
        n = min(n, nxt - pos)
        split = 0 if pos < b1 else (1 if pos < b2 else 2)
        plan.append((ident, pos, n, split))
        pos += n
    return plan


def generate_dataset(out_dir: Path, count: int = 3000, seed: int = 0,
                     quality: tuple[int, int] = (75, 95), images_per_identity: tuple[int, int] = (1, 6),
                     workers: int = 0) -> dict:
    """Writes out_dir/img_align_celeba.zip, list_attr_celeba.txt, list_eval_partition.txt, identity_CelebA.txt (and the side file BOXES_FILE); returns a small summary dict (count, identities, positive rate per attribute).

    Output bytes depend only on the arguments other than `workers` (0 = one per CPU core), so the
    data can be regenerated instead of stored. Each file is written beside its target and renamed into
    place, so an interrupted run never leaves a half-written file.
    """
    out_dir = Path(out_dir)
    if count < 1:
        raise FaceattrError(f"synth.count must be >= 1, got {count}")
    q_lo, q_hi = int(quality[0]), int(quality[1])
    if not 1 <= q_lo <= q_hi <= 100:
        raise FaceattrError(f"synth.quality must be (lo, hi) with 1 <= lo <= hi <= 100, got {quality!r}")
    out_dir.mkdir(parents=True, exist_ok=True)
    plan = _plan_identities(count, seed, images_per_identity)
    tasks = []
    ident_of, split_of = [], []
    for ident, start, n, split in plan:
        who = _sample_identity(seed, ident)
        for k in range(n):
            tasks.append((seed, start + k, who, (q_lo, q_hi)))
            ident_of.append(ident)
            split_of.append(split)

    if workers == 0:  # automatic: one per core, but no pool for a handful of images
        n_workers = min(os.cpu_count() or 1, max(1, count // 64))
    else:
        n_workers = max(1, int(workers))
    zip_path = out_dir / "img_align_celeba.zip"
    rows: list[list[int]] = []
    box_lines = ["image_id,attribute,x0,y0,x1,y1"]

    def record(i: int, labels: dict[str, bool], boxes: Boxes) -> None:
        rows.append([1 if labels[a] else -1 for a in CELEBA_ATTRIBUTES])
        box_lines.extend(f"{i + 1:06d}.jpg,{name},{','.join(f'{v:.1f}' for v in boxes[name])}"
                         for name in BOXED_ATTRIBUTES if name in boxes)
    with atomic_path(zip_path) as tmp_zip:
        with zipfile.ZipFile(tmp_zip, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
            def put(i: int, data: bytes) -> None:
                info = zipfile.ZipInfo(f"{ZIP_DIR}/{i + 1:06d}.jpg", date_time=_ZIP_DATE)
                info.compress_type = zipfile.ZIP_STORED
                info.create_system = 3
                info.external_attr = (0o100644 << 16)
                zf.writestr(info, data)

            if n_workers > 1:
                import multiprocessing

                with multiprocessing.get_context().Pool(n_workers) as pool:
                    for i, (labels, data, boxes) in enumerate(pool.imap(_render_task, tasks, chunksize=16)):
                        record(i, labels, boxes)
                        put(i, data)
            else:
                for i, task in enumerate(tasks):
                    labels, data, boxes = _render_task(task)
                    record(i, labels, boxes)
                    put(i, data)

    names = [f"{i + 1:06d}.jpg" for i in range(count)]
    attr_lines = [str(count), " ".join(CELEBA_ATTRIBUTES)]
    attr_lines += [name + "".join(f"{v:>3d}" for v in row) for name, row in zip(names, rows)]
    write_text(out_dir / "list_attr_celeba.txt", "\n".join(attr_lines) + "\n")
    write_text(out_dir / "list_eval_partition.txt",
                       "".join(f"{n} {s}\n" for n, s in zip(names, split_of)))
    write_text(out_dir / "identity_CelebA.txt",
                       "".join(f"{n} {i}\n" for n, i in zip(names, ident_of)))
    write_text(out_dir / BOXES_FILE, "\n".join(box_lines) + "\n")

    values = np.asarray(rows, dtype=np.int8)
    rates = ((values == 1).mean(axis=0)).tolist()
    return {
        "count": count,
        "identities": len(plan),
        "splits": {name: split_of.count(k) for k, name in enumerate(("train", "val", "test"))},
        "positive_rate": {a: round(float(p), 4) for a, p in zip(CELEBA_ATTRIBUTES, rates)},
    }


def face_with_eyes(seed: int, index: int, quality: int = 95) -> tuple[bytes, tuple[tuple[float, float], tuple[float, float]]]:
    """One synthetic 178×218 face (JPEG bytes, its own identity) and its true eye centres (image-left first, pixels).

    For checking face alignment: the eyes are where they were drawn, not where a detector thinks they are.
    """
    _, data, boxes = _render(seed, index, _sample_identity(seed, index + 1), (quality, quality))
    lx, ly, rx, ry = boxes[EYES]
    return data, ((lx, ly), (rx, ry))


# ------------------------------------------------------------------------------------------ preview
def read_boxes(path: str | Path) -> dict[str, dict[str, tuple[float, float, float, float]]]:
    """The side file of `generate_dataset`: image id -> attribute -> (x0, y0, x1, y1) in image pixels."""
    out: dict[str, dict[str, tuple[float, float, float, float]]] = {}
    for line in Path(path).read_text().splitlines()[1:]:
        image_id, name, *values = line.split(",")
        out.setdefault(image_id, {})[name] = tuple(float(v) for v in values)
    return out


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has no sized default font
        return ImageFont.load_default()


def render_sample_grid(zip_path: Path, attr_path: Path, png_path: Path, n: int = 24) -> None:
    """A labelled grid (matplotlib or PIL) of the first n images with their positive rendered attributes as captions, so a person can check faces and labels.

    Drawn with PIL only (no display or matplotlib backend needed); the PNG is written atomically.
    """
    zip_path, attr_path, png_path = Path(zip_path), Path(attr_path), Path(png_path)
    lines = [ln.split() for ln in attr_path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    header = lines[1] if lines and lines[0][0].isdigit() else lines[0]
    body = lines[2:] if lines and lines[0][0].isdigit() else lines[1:]
    labels = {row[0]: {name for name, v in zip(header, row[1:]) if v in ("1", "+1")} for row in body}
    rendered = [a for a in header if a in RENDERED_ATTRIBUTES]
    with zipfile.ZipFile(zip_path) as zf:
        entries = sorted(i.filename for i in zf.infolist() if i.filename.lower().endswith(".jpg"))[:n]
        images = [(_basename(e), Image.open(io.BytesIO(zf.read(e))).convert("RGB")) for e in entries]
    font = _font(11)
    cols = min(6, max(1, len(images)))
    cap_h = 92
    cell_w, cell_h = IMAGE_WIDTH + 8, IMAGE_HEIGHT + cap_h
    rows_n = max(1, math.ceil(len(images) / cols))
    sheet = Image.new("RGB", (cols * cell_w, rows_n * cell_h), (255, 255, 255))
    d = ImageDraw.Draw(sheet)
    for k, (name, im) in enumerate(images):
        x, y = (k % cols) * cell_w + 4, (k // cols) * cell_h + 2
        sheet.paste(im.resize((IMAGE_WIDTH, IMAGE_HEIGHT)), (x, y))
        pos = [a for a in rendered if a in labels.get(name, set())]
        words = [name + ":"] + pos
        text_lines, cur = [], ""
        for w in words:
            cand = (cur + " " + w).strip()
            if d.textlength(cand, font=font) > IMAGE_WIDTH and cur:
                text_lines.append(cur)
                cur = w
            else:
                cur = cand
        text_lines.append(cur)
        for j, t in enumerate(text_lines[:7]):
            d.text((x, y + IMAGE_HEIGHT + 2 + 12.5 * j), t, fill=(0, 0, 0), font=font)
    png_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(png_path) as tmp:
        # 256 colours keep the grid small enough to live in git beside the other plots.
        sheet.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(tmp, format="PNG", optimize=True)


def _basename(entry: str) -> str:
    return entry.replace("\\", "/").rsplit("/", 1)[-1]


if __name__ == "__main__":  # python -m faceattr.synth OUT_DIR [COUNT] [SEED]
    import sys
    import time

    t0 = time.perf_counter()
    summary = generate_dataset(Path(sys.argv[1]), count=int(sys.argv[2]) if len(sys.argv) > 2 else 3000,
                               seed=int(sys.argv[3]) if len(sys.argv) > 3 else 0)
    print(f"{summary['count']} images, {summary['identities']} identities in {time.perf_counter() - t0:.1f} s")
