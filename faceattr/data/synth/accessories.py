"""Things worn: necklace, glasses and hat (their boxes recorded on the pen), earrings."""

from __future__ import annotations

import math

import numpy as np

from faceattr.data.synth.colours import METALS, mix, shade
from faceattr.data.synth.geometry import Face, Pen, arc
from faceattr.data.synth.traits import Identity, Photo

LENS_W, LENS_H = 13.5, 9.8  # glasses lens half-size


def frame_radius(photo: Photo) -> float:
    """Corner radius of the lenses: rounded rectangles, or round frames."""
    return 4.5 if not photo.round_frames else LENS_H


def draw_necklace(r: np.random.Generator, pen: Pen, f: Face) -> None:
    cx, nw, sh_y = f.cx, f.nw, f.sh_y
    metal = METALS[int(r.integers(len(METALS)))]
    chain = arc(cx, sh_y - 10, nw - 3, 16, math.pi + 0.25, 2 * math.pi - 0.25, 20)
    pen.line(chain, metal, 2.0)
    bottom = chain[len(chain) // 2]
    pen.ellipse(bottom[0], bottom[1] + 3, 3.2, 4.0, fill=metal, outline=shade(metal, 0.6), width=0.8)


def draw_glasses(pen: Pen, f: Face, photo: Photo, gw: float = LENS_W) -> None:
    """Frames, temples, glints and bridge (the tinted lenses are drawn behind the eyes), recorded as Eyeglasses;
    `gw` is the frames' half-width (see `draw_person` for why it is not always LENS_W)."""
    cx, es, ey = f.cx, f.es, f.eye_y
    gh = LENS_H
    fc = photo.frame_rgb
    with pen.recording("Eyeglasses"):
        for side in (-1, 1):
            ex = cx + side * es
            pen.rrect(ex - gw, ey + 0.5 - gh, ex + gw, ey + 0.5 + gh, frame_radius(photo), outline=fc, width=3.2)
            pen.line([(ex + side * (gw - 1), ey - 3), (cx + side * (f.half_width(ey) + 3), ey - 2)], fc, 2.6)
            pen.line([(ex - 7, ey + 5), (ex - 2, ey - 5)], mix(fc, (255, 255, 255), 0.8), 1.0)
        pen.line(arc(cx, ey - 1, max(1.5, es - gw + 1), 2.5, 0.0, math.pi, 8), fc, 3.0)


def draw_hat(r: np.random.Generator, pen: Pen, f: Face, who: Identity, photo: Photo) -> None:
    """A beanie, a brimmed hat or a cap (mostly the person's usual kind), recorded as Wearing_Hat."""
    cx, cy, a = f.cx, f.cy, f.a
    with pen.recording("Wearing_Hat"):
        hc = photo.hat_rgb
        dark = shade(hc, 0.7)
        hb = f.hairline + 9 + photo.hat_drop
        hx = a + 9
        kind = who.hat_pref if r.random() < 0.7 else int(r.integers(3))
        top = cy - f.bu - 14
        if kind == 0:  # beanie
            dome = arc(cx, hb, hx, hb - top, 0.0, math.pi, 30)
            pen.poly(dome, hc)
            pen.poly(
                [(cx - hx - 1, hb - 11), (cx + hx + 1, hb - 11), (cx + hx + 1, hb + 1), (cx - hx - 1, hb + 1)], dark
            )
            for k in range(-6, 7):
                pen.line([(cx + k * hx / 7, hb - 10), (cx + k * hx / 7, hb)], shade(hc, 0.55), 0.9)
            if r.random() < 0.5:
                pen.ellipse(cx, top - 3, 8, 7, fill=mix(hc, (255, 255, 255), 0.5))
        elif kind == 1:  # brimmed hat
            pen.ellipse(cx, hb - 4, hx + 22, 9, fill=dark)
            pen.rrect(cx - a * 0.82, top - 6, cx + a * 0.82, hb - 4, 10, fill=hc)
            band = tuple(int(v) for v in r.integers(0, 256, 3))
            pen.poly(
                [(cx - a * 0.82, hb - 13), (cx + a * 0.82, hb - 13), (cx + a * 0.82, hb - 6), (cx - a * 0.82, hb - 6)],
                band,
            )
            pen.line(arc(cx, hb - 4, hx + 22, 9, math.pi, 2 * math.pi, 24), shade(hc, 0.5), 1.2)
        else:  # cap with a visor
            dome = arc(cx, hb, hx - 1, hb - top + 2, 0.0, math.pi, 30)
            pen.poly(dome, hc)
            pen.poly(arc(cx, hb - 1, hx - 4, 11, math.pi, 2 * math.pi, 20), dark)
            pen.line([(cx, top + 2), (cx, hb - 2)], dark, 1.2)
            pen.ellipse(cx, top + 3, 3, 2.5, fill=dark)


def draw_earrings(r: np.random.Generator, pen: Pen, f: Face) -> None:
    """Hoops, drops or studs, in one random metal."""
    metal = METALS[int(r.integers(len(METALS)))]
    style = int(r.integers(3))
    for side in (-1, 1):
        ex = f.cx + side * (f.ear_x + 2.5)
        ly = f.ear_y + 12.5
        if style == 0:
            pen.ellipse(ex, ly + 5, 5, 5.5, outline=metal, width=1.8)
        elif style == 1:
            pen.line([(ex, ly), (ex, ly + 6)], metal, 1.4)
            pen.ellipse(ex, ly + 9, 3.2, 4.2, fill=metal, outline=shade(metal, 0.6), width=0.7)
        else:
            pen.ellipse(ex, ly + 1.5, 3.3, 3.3, fill=metal, outline=shade(metal, 0.6), width=0.7)
