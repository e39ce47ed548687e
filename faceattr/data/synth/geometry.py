"""Drawing in face coordinates: the pose-applying pen, point-list helpers, and one face's geometry.

The person is drawn at 2x straight onto the (upscaled) background, with the pose (rotation, scale,
shift) applied to every coordinate, then box-reduced to 1x: antialiased and cheap (no resampling pass).
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Iterable, Iterator

from PIL import ImageDraw

from faceattr.data.synth.colours import RGB
from faceattr.data.synth.traits import Identity, Photo

IMAGE_WIDTH, IMAGE_HEIGHT = 178, 218
S = 2  # drawing scale (canvas pixels per image pixel)
ZOOM = 1.14  # how much larger than the nominal geometry below faces are drawn, on average
CX, CY = 89.0, 118.0  # face centre (widest line of the face) in image coordinates


class Pen:
    """ImageDraw in face coordinates: applies the pose (rotate/scale about the face centre, shift) and S."""

    def __init__(self, draw: ImageDraw.ImageDraw, angle: float, scale: float, dx: float, dy: float):
        self.d = draw
        self.k = scale * S
        self.c, self.s = math.cos(angle) * self.k, math.sin(angle) * self.k
        self.ox, self.oy = (CX + dx) * S, (CY + dy) * S
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
        x -= CX
        y -= CY
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

    def ellipse(
        self,
        x: float,
        y: float,
        rx: float,
        ry: float,
        fill: RGB | None = None,
        outline: RGB | None = None,
        width: float = 1.0,
    ) -> None:
        n = max(12, min(48, int((rx + ry) * 0.8)))
        pts = arc(x, y, rx, ry, 0.0, 2 * math.pi * (n - 1) / n, n)
        if fill is not None:
            self.poly(pts, fill)
        if outline is not None:
            self.line(pts + pts[:2], outline, width)

    def rrect(
        self,
        x0: float,
        y0: float,
        x1: float,
        y1: float,
        radius: float,
        fill: RGB | None = None,
        outline: RGB | None = None,
        width: float = 1.0,
    ) -> None:
        r = min(radius, (x1 - x0) / 2, (y1 - y0) / 2)
        pts = (
            arc(x1 - r, y0 + r, r, r, 0.0, math.pi / 2, 6)
            + arc(x0 + r, y0 + r, r, r, math.pi / 2, math.pi, 6)
            + arc(x0 + r, y1 - r, r, r, math.pi, 1.5 * math.pi, 6)
            + arc(x1 - r, y1 - r, r, r, 1.5 * math.pi, 2 * math.pi, 6)
        )
        if fill is not None:
            self.poly(pts, fill)
        if outline is not None:
            self.line(pts + pts[:2], outline, width)


def arc(cx: float, cy: float, rx: float, ry: float, a0: float, a1: float, n: int = 24) -> list[tuple[float, float]]:
    """Points on an ellipse; angles in radians, 0 = right, pi/2 = up (image y grows downwards)."""
    return [
        (cx + rx * math.cos(a0 + (a1 - a0) * i / (n - 1)), cy - ry * math.sin(a0 + (a1 - a0) * i / (n - 1)))
        for i in range(n)
    ]


def wavy(pts: list[tuple[float, float]], amp: float, period: float, phase: float) -> list[tuple[float, float]]:
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


def densify(pts: list[tuple[float, float]], step: float = 2.0) -> list[tuple[float, float]]:
    out = [pts[0]]
    for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
        k = max(1, int(math.hypot(x1 - x0, y1 - y0) / step))
        out.extend((x0 + (x1 - x0) * i / k, y0 + (y1 - y0) * i / k) for i in range(1, k + 1))
    return out


class Face:
    """Geometry of one face in one photo (image coordinates, before pose)."""

    def __init__(self, who: Identity, photo: Photo):
        self.cx, self.cy = CX, CY
        self.a, self.bu, self.bl, self.p = who.a, who.bu, who.bl, who.jaw_p
        self.eye_y = 112.0 + who.eye_dy
        self.es = who.eye_sep
        self.brow_y = self.eye_y - 11.5
        self.nose_y = self.eye_y + 22.0 + (2.0 if who.big_nose else 0.0)
        self.mouth_y = self.eye_y + 39.0
        self.chin_y = self.cy + self.bl
        self.hairline = (71.0 if who.male else 73.0) + who.hairline
        self.mw = 11.0 + who.mouth_w + (6.0 if photo.smiling else 0.0)  # mouth half-width
        self.nw = self.a * (0.5 if not who.male else 0.56) + (4 if who.chubby else 0)  # neck half-width
        self.sh_y = 194.0  # shoulder line
        self.ear_y = self.eye_y + 12
        self.ear_x = self.half_width(self.ear_y)

    def half_width(self, y: float) -> float:
        if y <= self.cy:
            t = min(1.0, (self.cy - y) / self.bu)
            return self.a * math.sqrt(max(0.0, 1 - t * t))
        t = min(1.0, (y - self.cy) / self.bl)
        return self.a * max(0.0, 1 - t**self.p) ** (1 / self.p)

    def outline(self, n: int = 40) -> list[tuple[float, float]]:
        upper = arc(self.cx, self.cy, self.a, self.bu, 0.0, math.pi, n)
        lower = []
        for i in range(n + 1):
            t = i / n
            y = self.cy + self.bl * t
            w = self.a * max(0.0, 1 - t**self.p) ** (1 / self.p)
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
