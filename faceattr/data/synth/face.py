"""The face and its skin: ears, face outline and double chin, cheek shading, signs of age, rosy cheeks, nose."""

from __future__ import annotations

import math

from faceattr.data.synth.colours import mix, shade
from faceattr.data.synth.geometry import Face, Pen, arc
from faceattr.data.synth.traits import Identity


def draw_ears(pen: Pen, f: Face, who: Identity) -> None:
    skin = who.skin
    skin_dark = shade(skin, 0.84)
    for side in (-1, 1):
        ex = f.cx + side * (f.ear_x + 2.5)
        pen.ellipse(ex, f.ear_y, 6.5, 13.5, fill=skin_dark)
        pen.ellipse(ex + side * 1.0, f.ear_y - 1, 3.2, 8.5, fill=shade(skin, 0.7))


def draw_face(pen: Pen, f: Face, who: Identity) -> None:
    """The double chin (behind), the face, and soft cheek shading for a rounder look."""
    cx, cy, a = f.cx, f.cy, f.a
    skin = who.skin
    skin_dark = shade(skin, 0.84)
    line_col = shade(skin, 0.62)
    outline = f.outline()
    if who.double_chin:
        pen.ellipse(cx, f.chin_y + 1, a * 0.52, 9, fill=shade(skin, 0.95))
        pen.line(arc(cx, f.chin_y + 1, a * 0.5, 8.5, math.pi + 0.35, 2 * math.pi - 0.35, 14), line_col, 1.6)
    pen.poly(outline, skin)
    for side in (-1, 1):
        pen.ellipse(cx + side * (a - 4), cy + 14, 5, 18, fill=mix(skin, skin_dark, 0.5))


def draw_old_age(pen: Pen, f: Face, who: Identity) -> None:
    """Wrinkles, folds, crow's feet, sagging."""
    cx, a, es, ey, mw, my = f.cx, f.a, f.es, f.eye_y, f.mw, f.mouth_y
    skin = who.skin
    old_line = shade(skin, 0.5)
    for side in (-1, 1):  # sagging jowls and sunken eyes
        jy = my - 4
        pen.poly(
            [
                (cx + side * (f.half_width(jy) - 1), jy),
                (cx + side * (f.half_width(jy) - 8), jy + 2),
                (cx + side * (mw + 7), f.chin_y - 8),
                (cx + side * (f.half_width(f.chin_y - 6) - 1), f.chin_y - 6),
            ],
            shade(skin, 0.82),
        )
        pen.ellipse(cx + side * es, ey + 0.5, 11.5, 8.0, fill=shade(skin, 0.86))
        for k in range(3):  # cheek lines
            x0 = cx + side * (a * 0.62 + 2.5 * k)
            pen.line([(x0, ey + 12 + 2 * k), (x0 - side * 1.5, ey + 24 + 2 * k)], old_line, 1.5)
    for k, dy in enumerate((6.5, 11.5, 16.5, 21.5)):
        w = a * (0.58 - 0.05 * k)
        pen.line(arc(cx, f.brow_y - dy + 4, w, 4, math.pi * 0.15, math.pi * 0.85, 12), old_line, 2.4)
    for side in (-1, 1):
        pen.line(
            [(cx + side * 9, f.nose_y - 5), (cx + side * (mw + 4), my - 4), (cx + side * (mw + 6), my + 5)],
            old_line,
            2.6,
        )
        pen.line([(cx + side * (mw + 1), my + 4), (cx + side * (mw + 3), my + 15)], old_line, 1.8)
        ox = cx + side * (es + 10)
        for k in (-1, 0, 1):
            pen.line([(ox, ey + k * 1.5), (ox + side * 7, ey + k * 4.5)], old_line, 1.5)
        pen.line(arc(cx + side * es, ey + 6, 8, 2.5, math.pi * 1.15, math.pi * 1.85, 8), old_line, 1.5)


def draw_rosy_cheeks(pen: Pen, f: Face, who: Identity) -> None:
    rose = mix(who.skin, (238, 80, 105), 0.55)
    for side in (-1, 1):
        pen.ellipse(f.cx + side * (f.es + 6), f.nose_y - 1, 8.5, 6.5, fill=rose)


def draw_nose(pen: Pen, f: Face, who: Identity) -> None:
    cx, ey = f.cx, f.eye_y
    skin = who.skin
    big = who.big_nose
    nwid = 7.5 if big else 5.5
    ny = f.nose_y
    pen.line([(cx - 3.5, ey + 2), (cx - 4.5, ny - 7)], shade(skin, 0.86), 1.6)
    pen.poly(arc(cx, ny - 1, nwid + 2, 5.5 if big else 4.5, math.pi * 1.0, math.pi * 2.0, 16), shade(skin, 0.9))
    for side in (-1, 1):
        pen.line(
            arc(
                cx + side * (nwid - 0.5),
                ny - 2,
                3.5,
                4,
                math.pi * (0.5 if side > 0 else -0.5),
                math.pi * (-0.6 if side > 0 else 1.6),
                8,
            ),
            shade(skin, 0.66),
            1.3,
        )
        pen.ellipse(cx + side * (nwid * 0.45), ny + 0.5, 2.2 if big else 1.6, 1.2, fill=shade(skin, 0.35))
    pen.line(arc(cx, ny - 1.5, nwid * 0.45, 2.2, math.pi * 1.15, math.pi * 1.85, 8), shade(skin, 0.7), 1.0)
