"""The mouth and the facial hair around it: stubble, sideburns, chinstrap, lips, teeth, mustache, goatee."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from faceattr.data.synth.colours import RGB, luma, mix, shade
from faceattr.data.synth.geometry import Face, Pen, arc
from faceattr.data.synth.traits import Identity, Photo

Points = list[tuple[float, float]]


def beard_colour(who: Identity) -> RGB:
    """The beard's and sideburns' colour, always clearly darker than the skin."""
    skin = who.skin
    facial = who.facial_rgb
    if luma(facial) > 0.55 * luma(skin):
        facial = shade(facial, 0.55 * luma(skin) / max(1.0, luma(facial)))
    return facial


def draw_stubble(r: np.random.Generator, pen: Pen, f: Face, who: Identity) -> None:
    """A darker jaw sprinkled with dots."""
    skin = who.skin
    stub = mix(skin, (70, 72, 84), 0.2)
    left = f.jaw(-1, f.nose_y - 2, 1.5)
    right = f.jaw(1, f.nose_y - 2, 1.5)
    pen.poly(left + list(reversed(right)), stub)
    ys = r.uniform(f.nose_y + 2, f.chin_y - 2, 420)
    xs = np.array([r.uniform(-1, 1) * (f.half_width(y) - 3) for y in ys]) + f.cx
    dots = [pen.p(float(x), float(y)) for x, y in zip(xs, ys)]
    pen.d.point(dots, fill=mix(skin, (40, 40, 48), 0.6))


def draw_sideburns(pen: Pen, f: Face, who: Identity) -> None:
    """Sideburns and a chinstrap beard, the facial hair drawn before the eyes."""
    cx, ey = f.cx, f.eye_y
    facial = beard_colour(who)
    if who.sideburns:
        for side in (-1, 1):
            y0, y1 = ey - 10, ey + 18
            pen.poly(
                [
                    (cx + side * (f.half_width(y0) + 1), y0),
                    (cx + side * (f.half_width(y0) - 8), y0),
                    (cx + side * (f.half_width(y1) - 7), y1),
                    (cx + side * (f.half_width(y1) + 0.5), y1),
                ],
                facial,
            )
    if who.beard == "chinstrap":
        y0 = ey + 14
        outer = f.jaw(-1, y0, -0.5) + list(reversed(f.jaw(1, y0, -0.5)))
        inner = f.jaw(-1, y0, 7.5) + list(reversed(f.jaw(1, y0, 7.5)))
        pen.poly(outer + list(reversed(inner)), facial)


@dataclass(frozen=True)
class Mouth:
    """The lips' geometry (image coordinates, before pose), which the beard around them follows."""

    cx: float
    my: float  # the mouth line's height at the middle
    mw: float  # half-width
    curve: float  # how far the corners rise (smile) or drop
    gap: float  # how far the lips are apart
    ut: float  # upper lip thickness
    top: Points  # the lips' inner edges, corner to corner
    bot: Points
    upper: Points  # the lips' outer edges
    lower: Points

    def line(self, x: float) -> float:
        """The mouth line's height at x from the middle."""
        return self.my - self.curve * (x / self.mw) ** 2


def mouth_shape(f: Face, who: Identity, photo: Photo) -> Mouth:
    cx, mw, my = f.cx, f.mw, f.mouth_y
    ut = 3.4 if who.big_lips else 2.4
    lt = 5.0 if who.big_lips else 3.4
    curve = 9.0 if photo.smiling else -1.0
    gap = (11.0 if photo.smiling else 4.0) if photo.mouth_open else 0.0
    if not who.young:
        ut *= 0.75

    def mline(x: float) -> float:
        return my - curve * (x / mw) ** 2

    xs = [mw * (2 * i / 20 - 1) for i in range(21)]
    top = [(cx + x, mline(x) - gap * 0.25 * (1 - (x / mw) ** 2)) for x in xs]
    bot = [(cx + x, mline(x) + gap * (1 - (x / mw) ** 2) ** 0.8) for x in xs]
    upper = [
        (cx + x, y - ut * (1 - (x / mw) ** 2) ** 0.6 - (0.8 if abs(x) < mw * 0.25 else 0.0))
        for x, (_, y) in zip(xs, top)
    ]
    lower = [(cx + x, y + lt * (1 - (x / mw) ** 2) ** 0.6) for x, (_, y) in zip(xs, bot)]
    return Mouth(cx=cx, my=my, mw=mw, curve=curve, gap=gap, ut=ut, top=top, bot=bot, upper=upper, lower=lower)


def draw_mouth(pen: Pen, who: Identity, photo: Photo, m: Mouth) -> None:
    """Dimples, lips, the open mouth and teeth, the line between the lips."""
    cx, mw, my, curve, gap, top, bot = m.cx, m.mw, m.my, m.curve, m.gap, m.top, m.bot
    skin = who.skin
    line_col = shade(skin, 0.62)
    lip = photo.lip_rgb if photo.lipstick else mix(skin, (175, 70, 75), 0.42)
    if photo.smiling and not photo.mouth_open:
        for side in (-1, 1):  # dimples at the mouth corners
            pen.line(
                arc(
                    cx + side * (mw + 1.5),
                    my - curve - 0.5,
                    2.5,
                    3.5,
                    math.pi * (0.7 if side < 0 else -0.3),
                    math.pi * (1.3 if side < 0 else 0.3),
                    6,
                ),
                line_col,
                1.6,
            )
    pen.poly(m.upper + list(reversed(top)), lip)
    pen.poly(bot + list(reversed(m.lower)), lip)
    if gap > 0:
        pen.poly(top + list(reversed(bot)), (70, 18, 26))
        if photo.smiling:
            teeth_bot = [(x, y + min(5.0, (by - y) * 0.6)) for (x, y), (_, by) in zip(top, bot)]
            pen.poly(top[2:-2] + list(reversed(teeth_bot[2:-2])), (250, 248, 240))
    pen.line(top if gap == 0 else top[1:-1], shade(lip, 0.4), 2.4 if photo.smiling and gap == 0 else 1.1)


GOATEES = ("goatee", "goatee_mustache", "chinstrap")  # the beards with hair under the lower lip


def goatee_top(f: Face, who: Identity, m: Mouth) -> tuple[float, float]:
    """The height of a goatee's top edge and its half-width there."""
    gy = max(y for _, y in m.lower) + 1.5
    gw = 9.0 if who.beard != "chinstrap" else f.half_width(gy) - 4
    return gy, gw


def draw_beard(pen: Pen, f: Face, who: Identity, m: Mouth) -> None:
    """A mustache over the upper lip and a goatee under the lower one."""
    cx, mw, gap, ut = m.cx, m.mw, m.gap, m.ut
    facial = beard_colour(who)
    if who.beard in ("mustache", "goatee_mustache"):
        mx0 = mw + 3.5

        def lip_top(x: float) -> float:  # top edge of the upper lip; beyond the corners it droops outwards
            xc = max(-mw, min(mw, x))
            t = 1 - (xc / mw) ** 2
            return m.line(xc) - gap * 0.25 * t - ut * t**0.6 + max(0.0, abs(x) - mw) * 0.9

        mxs = [mx0 * (2 * i / 16 - 1) for i in range(17)]
        mbot = [(cx + x, lip_top(x) - 0.3) for x in mxs]
        mtop = [(cx + x, y - 9.0 * (1 - 0.55 * (x / mx0) ** 2)) for (_, y), x in zip(mbot, mxs)]
        pen.poly(mtop + list(reversed(mbot)), facial)
    if who.beard in GOATEES:
        gy, gw = goatee_top(f, who, m)
        pts = [(cx - gw, gy), (cx - gw * 0.6, gy - 1.5), (cx, gy - 0.5), (cx + gw * 0.6, gy - 1.5), (cx + gw, gy)]
        bottom_pts = [(cx + t * gw * 0.9, f.chin_y + 2.5 - 2.5 * t * t) for t in (1, 0.5, 0, -0.5, -1)]
        pen.poly(pts + bottom_pts, facial)
