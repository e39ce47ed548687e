"""Eyes (with the tinted lens of glasses behind them, eye shadow, bags) and eyebrows."""

from __future__ import annotations

import math

from faceattr.data.synth.accessories import LENS_H, LENS_W, frame_radius
from faceattr.data.synth.colours import mix, shade
from faceattr.data.synth.geometry import Face, Pen, arc, densify
from faceattr.data.synth.traits import Identity, Photo


def draw_eyes(pen: Pen, f: Face, who: Identity, photo: Photo) -> None:
    """Per eye: lens tint, bags, shadow, white, iris, pupil, glint, lids, lashes."""
    cx, es, ey = f.cx, f.es, f.eye_y
    skin = who.skin
    narrow = photo.narrow
    eh = 2.2 if narrow else (3.3 if photo.smiling else 3.9)
    ew = 7.6
    gw, gh = LENS_W, LENS_H
    for side in (-1, 1):
        ex = cx + side * es
        if photo.glasses:  # tinted lens behind the eye
            pen.rrect(
                ex - gw, ey + 0.5 - gh, ex + gw, ey + 0.5 + gh, frame_radius(photo), fill=mix(skin, photo.lens_rgb, 0.3)
            )
        if who.bags:
            pen.line(arc(ex, ey + 4.5, 8, 4.5, math.pi * 1.1, math.pi * 1.9, 10), mix(skin, (110, 70, 110), 0.4), 2.6)
        if photo.makeup:
            pen.poly(
                arc(ex, ey - 1, ew + 4, eh + 6.5, 0.0, math.pi, 16) + [(ex - ew - 3, ey + 1), (ex + ew + 3, ey + 1)],
                photo.eyeshadow,
            )
        else:
            pen.line(arc(ex, ey - 0.5, ew + 1, eh + 3, math.pi * 0.15, math.pi * 0.85, 10), shade(skin, 0.8), 1.3)
        pen.ellipse(ex, ey, ew, eh, fill=(246, 244, 240))
        ir = min(3.5, eh + 0.2)
        pen.ellipse(ex, ey + 0.2, ir, min(ir, eh), fill=who.eye_rgb)
        pen.ellipse(ex, ey + 0.2, ir * 0.45, min(ir, eh) * 0.45, fill=(12, 10, 10))
        pen.ellipse(ex + 1.0, ey - 0.8, 0.7, 0.7, fill=(255, 255, 255))
        lid = arc(ex, ey, ew, eh, 0.0, math.pi, 14)
        lid_w = 2.6 if photo.makeup else (1.6 if not who.male else 1.2)
        pen.line(lid, (25, 18, 18), lid_w)
        if photo.makeup:
            pen.line([lid[0 if side > 0 else -1], (ex + side * (ew + 4), ey - 3.5)], (20, 15, 15), 2.0)
        pen.line(arc(ex, ey, ew, eh, math.pi, 2 * math.pi, 12), shade(skin, 0.7), 0.8)


def draw_brows(pen: Pen, f: Face, who: Identity) -> None:
    cx, es = f.cx, f.es
    thick = 5.5 if who.bushy else (3.4 if who.male else 2.2)
    arch = 4.5 if who.arched else 1.2
    for side in (-1, 1):
        bx = cx + side * es
        pts = [
            (bx - side * 9, f.brow_y + 1.5),
            (bx + side * 1, f.brow_y - arch * 0.8),
            (bx + side * 5, f.brow_y - arch),
            (bx + side * 11, f.brow_y + (2.5 if who.arched else 1.0)),
        ]
        pts = densify(pts, 1.5)
        n = len(pts)
        for i in range(n - 1):
            wgt = thick * (1.0 - 0.45 * i / n)
            pen.line([pts[i], pts[i + 1]], who.brow_rgb, wgt)
        if who.bushy:
            for i in range(0, n - 1, 2):
                x, y = pts[i]
                pen.line([(x, y + thick * 0.5), (x + side * 2.0, y - thick * 0.6)], shade(who.brow_rgb, 0.8), 1.0)
