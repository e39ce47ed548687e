"""Colour arithmetic and the palettes the generator draws its colours from."""

from __future__ import annotations

from typing import Sequence

import numpy as np

RGB = tuple  # an (r, g, b) tuple of ints


def mix(c1: Sequence[float], c2: Sequence[float], t: float) -> RGB:
    return tuple(int(round(a + (b - a) * t)) for a, b in zip(c1, c2))


def shade(c: Sequence[float], f: float) -> RGB:
    return tuple(int(max(0, min(255, round(v * f)))) for v in c)


def jitter(rng: np.random.Generator, c: Sequence[float], amount: float) -> RGB:
    return tuple(int(max(0, min(255, round(v + rng.uniform(-amount, amount))))) for v in c)


def luma(c: Sequence[float]) -> float:
    return 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]


HAIR_BASE = {
    "black": ((18, 16, 18), (42, 36, 36)),
    "brown": ((88, 52, 30), (135, 88, 52)),
    "blond": ((205, 170, 100), (242, 218, 150)),
    "gray": ((150, 150, 154), (215, 215, 220)),
}
HAIR_OTHER = [(128, 44, 28), (185, 82, 38), (160, 52, 34), (150, 60, 45)]  # auburn, ginger, red, copper
# Hats come in clear colours unlike any hair colour, so a hat is never mistaken for hair (or back).
HAT_COLOURS = [
    (200, 30, 40),
    (30, 60, 180),
    (30, 140, 60),
    (120, 40, 150),
    (230, 60, 150),
    (20, 150, 160),
    (238, 238, 238),
    (30, 40, 95),
    (90, 200, 230),
    (150, 210, 60),
]
EYE_COLOURS = [(92, 56, 30), (48, 32, 22), (70, 120, 172), (78, 122, 80), (122, 96, 52)]
LIPSTICK = [(196, 18, 44), (168, 10, 58), (222, 52, 92), (140, 16, 30), (205, 40, 40)]
EYESHADOW = [(52, 88, 205), (140, 52, 165), (40, 150, 90), (215, 70, 150), (95, 55, 40), (30, 150, 190)]
FRAME_COLOURS = [(18, 18, 22), (62, 34, 20), (24, 30, 78), (92, 18, 24), (30, 30, 30)]
LENS = [(150, 175, 200), (170, 170, 175), (200, 170, 120), (140, 190, 170)]
METALS = [(236, 196, 70), (226, 226, 236), (250, 244, 232), (200, 40, 60), (60, 160, 220)]
