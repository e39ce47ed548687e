"""Hair: behind the head and over the shoulders, the mass behind the face, and the hair on the head
(outline, hairline, side locks, bangs and strands), or a bald head's shine."""

from __future__ import annotations

import math
from dataclasses import dataclass

from faceattr.data.synth.colours import RGB, luma, mix, shade
from faceattr.data.synth.geometry import Face, Pen, arc, densify, wavy
from faceattr.data.synth.traits import Identity

SHORT = ("short", "medium", "bun")  # lengths whose hair sits close to the head


@dataclass(frozen=True)
class HairStyle:
    """How a person's hair is drawn, derived from the identity's hair traits."""

    rgb: RGB
    length: str
    wavy: bool
    straight: bool
    strand: RGB  # colour of the strands drawn over the hair
    strand_w: float
    phase: float
    vol: float  # how far the hair stands off the head


def hair_style(who: Identity) -> HairStyle:
    hair_rgb = who.hair_rgb
    hl = luma(hair_rgb) if who.hair else 0.0
    is_wavy = who.texture == "wavy"
    # wavy hair: voluminous, scalloped outline, thick high-contrast wavy strands; straight: sleek, fine strands
    if is_wavy:
        strand = shade(hair_rgb, 0.45) if hl > 90 else mix(hair_rgb, (215, 205, 195), 0.5)
    else:
        strand = shade(hair_rgb, 0.72) if hl > 90 else mix(hair_rgb, (200, 190, 180), 0.28)
    return HairStyle(
        rgb=hair_rgb,
        length=who.length,
        wavy=is_wavy,
        straight=who.texture == "straight",
        strand=strand,
        strand_w=1.8 if is_wavy else 1.0,
        phase=who.wave_phase,
        vol=3.0 + 4.0 * who.hair_volume + (9.0 if is_wavy else 0.0),
    )


def draw_hair_behind(pen: Pen, f: Face, who: Identity, h: HairStyle) -> None:
    """Long hair behind the head and over the shoulders; a bun; medium hair's sides."""
    cx, cy, a, nw = f.cx, f.cy, f.a, f.nw
    length, vol, hair_rgb = h.length, h.vol, h.rgb
    if length in ("long", "bob"):
        bottom = 232.0 if length == "long" else cy + 44
        half_top, half_bot = a + vol + 2, a + vol + (14 if length == "long" else 6)
        for side in (-1, 1):
            edge = [
                (cx + side * half_top, cy - 30),
                (cx + side * (half_top + 2), cy + 10),
                (cx + side * half_bot, bottom),
            ]
            edge = densify(edge, 2.0)
            if h.wavy:
                edge = wavy(edge, 6.5, 22.0, h.phase)
            inner = [(cx + side * (nw - 2), bottom), (cx + side * (nw - 2), cy)]
            pen.poly(edge + inner, hair_rgb)
        pen.poly(arc(cx, cy - 8, a + vol, f.bu + vol - 6, -0.3, math.pi + 0.3, 36), hair_rgb)
        if length == "bob":
            pen.poly([(cx - half_bot, bottom - 1), (cx + half_bot, bottom - 1), (cx + nw, cy), (cx - nw, cy)], hair_rgb)
    elif length == "bun":
        pen.ellipse(cx + (8 if who.hat_pref == 1 else 0), cy - f.bu - 6, 15, 13, fill=hair_rgb)
    elif length == "medium":
        for side in (-1, 1):
            pen.poly(
                [
                    (cx + side * (a - 8), cy - 40),
                    (cx + side * (a + vol), cy - 20),
                    (cx + side * (a + vol - 1), cy + 18),
                    (cx + side * (a - 6), cy + 18),
                ],
                hair_rgb,
            )


def draw_hair_mass(pen: Pen, f: Face, h: HairStyle) -> None:
    """Short / top hair mass behind the face."""
    if h.length in SHORT:
        pen.poly(arc(f.cx, f.cy - 6, f.a + h.vol * 0.6, f.bu + h.vol * 0.6 - 4, -0.12, math.pi + 0.12, 36), h.rgb)


def draw_hair_on_head(pen: Pen, f: Face, who: Identity, h: HairStyle) -> None:
    """The hair over the face's top (or a bald head's shine)."""
    cx, cy, a, ey = f.cx, f.cy, f.a, f.eye_y
    if who.hair is not None:
        hx = a + h.vol * (0.6 if h.length in SHORT else 1.0)
        hy = f.bu + h.vol * (0.6 if h.length in SHORT else 1.0)
        hcy = cy - 6
        hairline = f.hairline - (10 if who.receding else 0)
        temple_y = ey - (4 if who.male else 10)
        side_w = f.half_width(temple_y)
        outer = arc(
            cx,
            hcy,
            hx,
            hy,
            math.asin(max(-1, min(1, (hcy - temple_y) / hy))),
            math.pi - math.asin(max(-1, min(1, (hcy - temple_y) / hy))),
            40,
        )
        if h.wavy and h.length in SHORT:
            outer = wavy(densify(outer, 2.0), 4.0, 13.0, h.phase)
        elif h.wavy:
            outer = wavy(densify(outer, 2.0), 4.5, 18.0, h.phase)
        if who.receding:
            line_pts = [
                (cx - side_w + 1, temple_y),
                (cx - a * 0.72, hairline + 12),
                (cx - a * 0.45, hairline - 2),
                (cx - a * 0.2, hairline + 6),
                (cx, hairline + 9),
                (cx + a * 0.2, hairline + 6),
                (cx + a * 0.45, hairline - 2),
                (cx + a * 0.72, hairline + 12),
                (cx + side_w - 1, temple_y),
            ]
        else:
            line_pts = [
                (cx - side_w + 1, temple_y),
                (cx - a * 0.8, hairline + 12),
                (cx - a * 0.5, hairline + 3),
                (cx, hairline),
                (cx + a * 0.5, hairline + 3),
                (cx + a * 0.8, hairline + 12),
                (cx + side_w - 1, temple_y),
            ]
        # outer runs right->left over the top; the hairline goes back left->right
        pen.poly(outer + line_pts, h.rgb)
        if h.length in ("long", "bob"):
            _draw_side_locks(pen, f, h, temple_y, side_w)
        if who.bangs:
            _draw_bangs(pen, f, h, hairline)
        if h.straight or h.wavy:
            _draw_strands(pen, f, h, hx, hy, hcy, hairline, temple_y)
    elif who.bald:
        pen.ellipse(cx + 8, cy - f.bu + 14, 12, 6, fill=mix(who.skin, (255, 255, 255), 0.3))


def _draw_side_locks(pen: Pen, f: Face, h: HairStyle, temple_y: float, side_w: float) -> None:
    """Side locks framing the face (long hair and bobs)."""
    cx, cy, a, vol = f.cx, f.cy, f.a, h.vol
    lock_bottom = cy + (34 if h.length == "long" else 30)
    for side in (-1, 1):
        edge = densify(
            [
                (cx + side * (side_w - 6), temple_y - 6),
                (cx + side * (f.half_width(cy) - 6), cy),
                (cx + side * (f.half_width(lock_bottom) - 1), lock_bottom),
            ],
            2.0,
        )
        if h.wavy:
            edge = wavy(edge, 2.0, 12.0, h.phase + side)
        pen.poly(
            edge + [(cx + side * (a + vol + 2), lock_bottom + 4), (cx + side * (a + vol + 2), temple_y - 10)], h.rgb
        )


def _draw_bangs(pen: Pen, f: Face, h: HairStyle, hairline: float) -> None:
    cx, a = f.cx, f.a
    by = f.brow_y - 4.5
    fringe_top = hairline - 4
    xs_b = [cx + (a - 3) * (2 * i / 12 - 1) for i in range(13)]
    bottom = []
    for i, x in enumerate(xs_b):
        dy = 3.0 * (abs(x - cx) / a) ** 2
        bottom.append((x, by - dy + (2.0 if i % 2 else -1.0) * (1.6 if h.wavy else 1.0)))
    pen.poly(
        [
            (cx - a + 1, fringe_top + 12),
            (cx - a * 0.5, fringe_top),
            (cx + a * 0.5, fringe_top),
            (cx + a - 1, fringe_top + 12),
        ]
        + list(reversed(bottom)),
        h.rgb,
    )
    for x, y in bottom[1:-1]:
        pts = densify([(x, fringe_top + 6), (x, y - 1)], 2.0)
        if h.wavy:
            pts = wavy(pts, 1.5, 8.0, h.phase + x)
        pen.line(pts, h.strand, h.strand_w * 0.8)


def _draw_strands(
    pen: Pen, f: Face, h: HairStyle, hx: float, hy: float, hcy: float, hairline: float, temple_y: float
) -> None:
    """Strands over the top of the head, and down the sides of long hair and bobs."""
    cx, cy, a, vol, strand, strand_w = f.cx, f.cy, f.a, h.vol, h.strand, h.strand_w
    n_str = 11 if h.wavy else 9
    for i in range(n_str):
        t = (i + 0.5) / n_str
        ang = math.pi * (0.12 + 0.76 * t)
        x0, y0 = cx + hx * 0.15 * math.cos(ang), hcy - hy * 0.98
        x1 = cx + (hx - 3) * math.cos(ang)
        y1 = hcy - (hy - 3) * math.sin(ang)
        y1 = max(y1, hairline - 2 if abs(x1 - cx) < a * 0.5 else y1)
        pts = densify([(x0, y0 + 3), ((x0 + x1) / 2, (y0 + y1) / 2 - 2), (x1, min(y1, temple_y - 4))], 2.0)
        if h.wavy:
            pts = wavy(pts, 2.6, 10.0, h.phase + i)
        pen.line(pts, strand, strand_w)
    if h.length in ("long", "bob"):
        bottom = 228.0 if h.length == "long" else cy + 40
        for side in (-1, 1):
            n_side = 4 if h.wavy else 3
            for k in range(n_side):
                x = cx + side * (a + 2 + k * (vol + 6) / n_side)
                pts = densify([(x, cy - 10 + 6 * k), (x + side * (4 + 3 * k), bottom - 6 * k)], 2.0)
                if h.wavy:
                    pts = wavy(pts, 4.0, 15.0, h.phase + k)
                pen.line(pts, strand, strand_w)
