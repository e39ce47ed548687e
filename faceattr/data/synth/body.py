"""Torso, clothes and neck: what is drawn below and behind the head."""

from __future__ import annotations

import math

import numpy as np

from faceattr.data.synth.colours import RGB, mix, shade
from faceattr.data.synth.geometry import Face, Pen, arc
from faceattr.data.synth.traits import Identity, Photo


def draw_torso(r: np.random.Generator, pen: Pen, f: Face) -> RGB:
    """Shoulders in clothes of a random colour, which is returned (the neckline uses it)."""
    cx, nw, sh_y = f.cx, f.nw, f.sh_y
    cloth = tuple(int(v) for v in r.integers(15, 240, 3))
    torso = [
        (cx - nw - 4, sh_y - 2),
        (cx - nw - 30, sh_y + 6),
        (cx - 95, sh_y + 20),
        (cx - 120, 260),
        (cx + 120, 260),
        (cx + 95, sh_y + 20),
        (cx + nw + 30, sh_y + 6),
        (cx + nw + 4, sh_y - 2),
    ]
    pen.poly(torso, cloth)
    return cloth


def neck_colour(who: Identity) -> RGB:
    return shade(who.skin, 0.86)


def draw_neck(pen: Pen, f: Face, who: Identity) -> None:
    cx, cy, nw, sh_y = f.cx, f.cy, f.nw, f.sh_y
    pen.poly(
        [
            (cx - nw, cy + 20),
            (cx - nw - 1, sh_y + 4),
            (cx - nw + 8, 250),
            (cx + nw - 8, 250),
            (cx + nw + 1, sh_y + 4),
            (cx + nw, cy + 20),
        ],
        neck_colour(who),
    )


def draw_neckline(r: np.random.Generator, pen: Pen, f: Face, who: Identity, photo: Photo, cloth: RGB) -> None:
    """A shirt, jacket and necktie; else a crew neck (men) or a V-neck (women)."""
    cx, nw, sh_y = f.cx, f.nw, f.sh_y
    if photo.necktie:
        _draw_necktie(r, pen, f, cloth)
    elif who.male:  # crew neck
        pen.poly(
            arc(cx, sh_y - 5, nw + 3, 8, math.pi, 2 * math.pi, 16) + [(cx + nw + 40, 250), (cx - nw - 40, 250)], cloth
        )
        pen.line(arc(cx, sh_y - 5, nw + 3, 8, math.pi, 2 * math.pi, 16), shade(cloth, 0.8), 1.2)
    else:
        depth = float(r.uniform(10, 22))
        pen.poly(
            [
                (cx - nw - 8, sh_y - 3),
                (cx - nw + 2, sh_y + depth * 0.6),
                (cx, sh_y + depth),
                (cx + nw - 2, sh_y + depth * 0.6),
                (cx + nw + 8, sh_y - 3),
            ],
            neck_colour(who),
        )


def _draw_necktie(r: np.random.Generator, pen: Pen, f: Face, cloth: RGB) -> None:
    cx, nw, sh_y = f.cx, f.nw, f.sh_y
    shirt = (238, 238, 240) if r.random() < 0.7 else (170, 200, 235)
    pen.poly([(cx - nw - 6, sh_y - 4), (cx + nw + 6, sh_y - 4), (cx + 30, 250), (cx - 30, 250)], shirt)
    jacket = shade(cloth, 0.6)
    for side in (-1, 1):
        pen.poly(
            [
                (cx + side * (nw + 6), sh_y - 4),
                (cx + side * 14, 250),
                (cx + side * 120, 250),
                (cx + side * 95, sh_y + 20),
            ],
            jacket,
        )
        pen.poly(
            [(cx + side * (nw + 2), sh_y - 8), (cx + side * 1, sh_y + 6), (cx + side * (nw + 4), sh_y + 10)], shirt
        )
    tie = tuple(int(v) for v in r.integers(0, 256, 3))
    if max(tie) - min(tie) < 60:
        tie = (170, 20, 30)
    pen.poly([(cx - 5, sh_y), (cx + 5, sh_y), (cx + 4, sh_y + 8), (cx - 4, sh_y + 8)], shade(tie, 0.85))
    pen.poly([(cx - 4, sh_y + 8), (cx + 4, sh_y + 8), (cx + 10, 240), (cx, 248), (cx - 10, 240)], tie)
    for k in range(3):
        yy = sh_y + 14 + 8 * k
        pen.line([(cx - 6 - k, yy), (cx + 6 + k, yy + 5)], shade(tie, 0.55), 1.6)


def draw_chin_shadow(pen: Pen, f: Face, who: Identity) -> None:
    """The chin's shadow on the neck."""
    skin = who.skin
    pen.ellipse(f.cx, f.chin_y - 2, f.a * 0.5, 8, fill=mix(neck_colour(who), shade(skin, 0.7), 0.5))
