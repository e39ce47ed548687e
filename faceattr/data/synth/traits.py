"""What a photo shows: an identity's traits (fixed for a person), a photo's traits, and the 40 labels.

Per-person traits are drawn once per identity from (seed, identity), per-photo ones from the photo's own
generator, so output is byte-identical for the same arguments whatever the worker count. The order of the
draws below is part of the output: moving one changes every image after it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from faceattr.data.attributes import CELEBA_ATTRIBUTES
from faceattr.data.synth.colours import (
    EYE_COLOURS,
    EYESHADOW,
    FRAME_COLOURS,
    HAIR_BASE,
    HAIR_OTHER,
    HAT_COLOURS,
    LENS,
    LIPSTICK,
    RGB,
    jitter,
    luma,
    mix,
    shade,
)

# Attributes the renderer draws visibly; their labels match the picture exactly. The other four
# (Attractive, High_Cheekbones, Oval_Face, Pointy_Nose) are sampled labels with no visual cue
# (High_Cheekbones is correlated with Smiling, Attractive with Young and sex, as in CelebA).
RENDERED_ATTRIBUTES: tuple[str, ...] = tuple(
    a for a in CELEBA_ATTRIBUTES if a not in ("Attractive", "High_Cheekbones", "Oval_Face", "Pointy_Nose")
)


@dataclass(frozen=True)
class Identity:
    """What stays fixed for a person: sex, age, skin, face shape, hair, beard, habits."""

    male: bool
    young: bool
    pale: bool
    skin: RGB
    chubby: bool
    double_chin: bool
    bald: bool
    hair: str | None  # "black", "blond", "brown", "gray", "other"; None when bald
    hair_rgb: RGB
    length: str  # "none" (bald), "short", "medium", "long", "bob", "bun"
    texture: str  # "none" (bald), "wavy", "straight", "plain"
    receding: bool
    bangs: bool
    beard: str  # "none", "goatee", "mustache", "goatee_mustache", "chinstrap"
    stubble: bool
    sideburns: bool
    facial_rgb: RGB  # beard and sideburns (darkened against the skin when drawn)
    brow_rgb: RGB
    bushy: bool
    arched: bool
    big_lips: bool
    big_nose: bool
    bags: bool
    glasses_wearer: bool  # habits: how likely a photo shows glasses, makeup, lipstick, earrings
    makeup_user: bool
    lipstick_user: bool
    earring_user: bool
    oval: bool  # labels with no visual cue
    pointy: bool
    attractive: bool
    eye_rgb: RGB
    a: float  # face half-width; upper and lower half-heights (image pixels, before pose)
    bu: float
    bl: float
    jaw_p: float  # exponent of the jaw's superellipse
    eye_dy: float
    eye_sep: float
    mouth_w: float
    hairline: float
    wave_phase: float
    hair_volume: float
    hat_pref: int  # the hat kind (beanie, brimmed, cap) the person usually wears; where a bun sits


@dataclass(frozen=True)
class Photo:
    """What changes from photo to photo of one person: its visible traits, then how its objects look."""

    smiling: bool
    mouth_open: bool
    high_cheekbones: bool
    glasses: bool
    hat: bool
    makeup: bool
    lipstick: bool
    narrow: bool
    rosy: bool
    earrings: bool
    necklace: bool
    necktie: bool
    blurry: bool
    eyeshadow: RGB
    lip_rgb: RGB
    frame_rgb: RGB
    round_frames: bool
    lens_rgb: RGB
    hat_rgb: RGB
    hat_drop: float


def _sample_skin(r: np.random.Generator, pale: bool, young: bool) -> RGB:
    if pale:
        skin = jitter(r, (252, 238, 228), 3)
    else:
        t = float(r.beta(1.4, 2.4))
        light, mid, dark = (236, 196, 166), (198, 146, 110), (124, 82, 58)
        skin = mix(light, mid, t / 0.5) if t < 0.5 else mix(mid, dark, (t - 0.5) / 0.5)
        skin = jitter(r, skin, 5)
    if not young:
        skin = mix(skin, (luma(skin),) * 3, 0.2)
    return skin


def _sample_hair(r: np.random.Generator, male: bool, young: bool) -> tuple[bool, str | None, RGB, str, str, bool, bool]:
    """(bald, hair, hair_rgb, length, texture, receding, bangs)."""
    u = r.random
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
        hair_rgb = jitter(r, HAIR_OTHER[int(r.choice(len(HAIR_OTHER), p=[0.3, 0.3, 0.25, 0.15]))], 10)
    else:
        lo, hi = HAIR_BASE[hair]
        hair_rgb = mix(lo, hi, float(u()))
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
    return bald, hair, hair_rgb, length, texture, receding, bangs


def _facial_hair_colours(hair: str | None, hair_rgb: RGB) -> tuple[RGB, RGB]:
    """(beard colour, brow colour) of a person with this hair."""
    if hair is None:
        facial_rgb = (58, 50, 46)
    elif hair == "blond":
        facial_rgb = shade(hair_rgb, 0.66)
    elif hair == "gray":
        facial_rgb = shade(hair_rgb, 0.78)
    else:
        facial_rgb = shade(hair_rgb, 0.9)
    brow_rgb = (66, 58, 54) if hair is None else (shade(hair_rgb, 0.7) if hair != "black" else hair_rgb)
    if hair == "blond":
        brow_rgb = shade(hair_rgb, 0.55)
    return facial_rgb, brow_rgb


def sample_identity(seed: int, ident: int) -> Identity:
    """What stays fixed for a person: sex, age, skin, face shape, hair, beard, habits."""
    r = np.random.default_rng([seed, 1, ident])
    u = r.random
    male = u() < 0.417
    young = u() < (0.66 if male else 0.855)
    pale = u() < (0.018 if male else 0.062)
    skin = _sample_skin(r, pale, young)
    chubby = u() < (0.02 + (0.07 if male else 0.025) + (0.0 if young else 0.03))
    double_chin = u() < (0.5 if chubby else (0.09 if not young else 0.004))
    bald, hair, hair_rgb, length, texture, receding, bangs = _sample_hair(r, male, young)
    beard = "none"
    stubble = sideburns = False
    if male:
        beard = ["none", "goatee", "mustache", "goatee_mustache", "chinstrap"][
            int(r.choice(5, p=[0.785, 0.05, 0.06, 0.045, 0.06]))
        ]
        stubble = beard == "none" and u() < 0.3
        sideburns = beard == "chinstrap" or ((not bald) and u() < 0.08)
    facial_rgb, brow_rgb = _facial_hair_colours(hair, hair_rgb)
    a = (45.0 if male else 42.0) + r.uniform(-2, 2) + (6 if chubby else 0)
    # keyword arguments are evaluated in the order written: the draws below happen in this order
    return Identity(
        male=male,
        young=young,
        pale=pale,
        skin=skin,
        chubby=chubby,
        double_chin=double_chin,
        bald=bald,
        hair=hair,
        hair_rgb=hair_rgb,
        length=length,
        texture=texture,
        receding=receding,
        bangs=bangs,
        beard=beard,
        stubble=stubble,
        sideburns=sideburns,
        facial_rgb=facial_rgb,
        brow_rgb=brow_rgb,
        bushy=u() < (0.25 if male else 0.065),
        arched=u() < (0.06 if male else 0.42),
        big_lips=u() < (0.19 if male else 0.28),
        big_nose=u() < (0.42 if male else 0.10),
        bags=u() < (0.14 if young else 0.45),
        glasses_wearer=u() < (0.08 if young else 0.17),
        makeup_user=(not male) and u() < (0.8 if young else 0.6),
        lipstick_user=(not male) and u() < 0.5,
        earring_user=(not male) and u() < 0.45,
        oval=u() < 0.284,
        pointy=u() < 0.277,
        attractive=u() < ((0.35 if young else 0.12) if male else (0.75 if young else 0.35)),
        eye_rgb=EYE_COLOURS[int(r.integers(len(EYE_COLOURS)))],
        a=a,
        bu=64.0 + r.uniform(-2, 2),
        bl=(59.0 if male else 55.0) + r.uniform(-2, 2),
        jaw_p=(r.uniform(2.3, 2.8) if male else r.uniform(1.75, 2.05)) if not chubby else 2.2,
        eye_dy=r.uniform(-2, 2),
        eye_sep=r.uniform(18, 20.5),
        mouth_w=r.uniform(-1, 1.5),
        hairline=r.uniform(-2, 3),
        wave_phase=r.uniform(0, 2 * math.pi),
        hair_volume=r.uniform(0.0, 1.0),
        hat_pref=int(r.integers(3)),
    )


def sample_photo(r: np.random.Generator, who: Identity) -> Photo:
    """What changes from photo to photo of one person: its traits first, then the colours (and shapes) of
    its make-up, glasses and hat, all from the photo's generator `r` (which then draws the picture)."""
    u = r.random
    smiling = u() < 0.482
    mouth_open = u() < (0.75 if smiling else 0.22)
    makeup = who.makeup_user and u() < 0.85
    # keyword arguments are evaluated in the order written: the draws below happen in this order
    return Photo(
        smiling=smiling,
        mouth_open=mouth_open,
        high_cheekbones=u() < (0.8 if smiling else 0.13),
        glasses=who.glasses_wearer and u() < 0.65,
        hat=u() < 0.0485,
        makeup=makeup,
        lipstick=makeup or (who.lipstick_user and u() < 0.9),
        narrow=u() < 0.115,
        rosy=u() < (0.02 if who.male else 0.10),
        earrings=who.earring_user and u() < 0.7,
        necklace=u() < (0.004 if who.male else 0.2),
        necktie=who.male and u() < 0.17,
        blurry=u() < 0.05,
        eyeshadow=EYESHADOW[int(r.integers(len(EYESHADOW)))],
        lip_rgb=LIPSTICK[int(r.integers(len(LIPSTICK)))],
        frame_rgb=FRAME_COLOURS[int(r.integers(len(FRAME_COLOURS)))],
        round_frames=bool(r.random() < 0.4),
        lens_rgb=LENS[int(r.integers(len(LENS)))],
        hat_rgb=jitter(r, HAT_COLOURS[int(r.integers(len(HAT_COLOURS)))], 18),
        hat_drop=float(r.uniform(-2, 4)),
    )


def labels(who: Identity, photo: Photo) -> dict[str, bool]:
    """The 40 CelebA labels of a photo of `who`."""
    hair = who.hair
    beard = who.beard
    return {
        "5_o_Clock_Shadow": who.stubble,
        "Arched_Eyebrows": who.arched,
        "Attractive": who.attractive,
        "Bags_Under_Eyes": who.bags,
        "Bald": who.bald,
        "Bangs": who.bangs,
        "Big_Lips": who.big_lips,
        "Big_Nose": who.big_nose,
        "Black_Hair": hair == "black",
        "Blond_Hair": hair == "blond",
        "Blurry": photo.blurry,
        "Brown_Hair": hair == "brown",
        "Bushy_Eyebrows": who.bushy,
        "Chubby": who.chubby,
        "Double_Chin": who.double_chin,
        "Eyeglasses": photo.glasses,
        "Goatee": beard in ("goatee", "goatee_mustache", "chinstrap"),
        "Gray_Hair": hair == "gray",
        "Heavy_Makeup": photo.makeup,
        "High_Cheekbones": photo.high_cheekbones,
        "Male": who.male,
        "Mouth_Slightly_Open": photo.mouth_open,
        "Mustache": beard in ("mustache", "goatee_mustache"),
        "Narrow_Eyes": photo.narrow,
        "No_Beard": beard == "none",
        "Oval_Face": who.oval,
        "Pale_Skin": who.pale,
        "Pointy_Nose": who.pointy,
        "Receding_Hairline": who.receding,
        "Rosy_Cheeks": photo.rosy,
        "Sideburns": who.sideburns,
        "Smiling": photo.smiling,
        "Straight_Hair": who.texture == "straight",
        "Wavy_Hair": who.texture == "wavy",
        "Wearing_Earrings": photo.earrings,
        "Wearing_Hat": photo.hat,
        "Wearing_Lipstick": photo.lipstick,
        "Wearing_Necklace": photo.necklace,
        "Wearing_Necktie": photo.necktie,
        "Young": who.young,
    }
