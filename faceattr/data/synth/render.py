"""Composing one photo: background, the person part by part, pose, lighting, blur, noise, JPEG."""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from faceattr.data.synth import accessories, body, eyes, face, hair, mouth
from faceattr.data.synth.geometry import IMAGE_HEIGHT, IMAGE_WIDTH, ZOOM, Face, Pen, S
from faceattr.data.synth.traits import Identity, Photo, labels, sample_identity, sample_photo

EYES = "eyes"  # render's record of the eye centres (left x, y, right x, y); not an attribute, not in BOXES_FILE

Boxes = dict[str, tuple[float, float, float, float]]  # attribute -> (x0, y0, x1, y1) in image pixels


def draw_background(r: np.random.Generator) -> Image.Image:
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


def draw_person(r: np.random.Generator, who: Identity, photo: Photo, pen: Pen) -> None:
    """The person, back to front; the order is the painting order and the order of the draws from `r`."""
    f = Face(who, photo)
    style = hair.hair_style(who)
    cloth = body.draw_torso(r, pen, f)
    hair.draw_hair_behind(pen, f, who, style)
    body.draw_neck(pen, f, who)
    body.draw_neckline(r, pen, f, who, photo, cloth)
    if photo.necklace:
        accessories.draw_necklace(r, pen, f)
    body.draw_chin_shadow(pen, f, who)
    hair.draw_hair_mass(pen, f, style)
    face.draw_ears(pen, f, who)
    face.draw_face(pen, f, who)
    if who.stubble:
        mouth.draw_stubble(r, pen, f, who)
    if not who.young:
        face.draw_old_age(pen, f, who)
    if photo.rosy:
        face.draw_rosy_cheeks(pen, f, who)
    mouth.draw_sideburns(pen, f, who)
    eyes.draw_eyes(pen, f, who, photo)
    eyes.draw_brows(pen, f, who)
    face.draw_nose(pen, f, who)
    lips = mouth.mouth_shape(f, who, photo)
    mouth.draw_mouth(pen, who, photo, lips)
    mouth.draw_beard(pen, f, who, lips)
    hair.draw_hair_on_head(pen, f, who, style)
    if photo.glasses:
        # A goatee wearer's frames are as wide as the goatee: in the single-module generator the goatee's
        # half-width overwrote the lenses' (one variable, `gw`). Kept, so that outputs stay byte-identical.
        frame_w = mouth.goatee_top(f, who, lips)[1] if who.beard in mouth.GOATEES else accessories.LENS_W
        accessories.draw_glasses(pen, f, photo, frame_w)
    if photo.hat:
        accessories.draw_hat(r, pen, f, who, photo)
    if photo.earrings:
        accessories.draw_earrings(r, pen, f)


_NOISE_BANK: np.ndarray | None = None


def _noise_bank() -> np.ndarray:
    global _NOISE_BANK
    if _NOISE_BANK is None:
        _NOISE_BANK = np.random.default_rng(20240517).standard_normal(1 << 20, dtype=np.float32)
    return _NOISE_BANK


def render(seed: int, idx: int, who: Identity, quality: tuple[int, int]) -> tuple[dict[str, bool], bytes, Boxes]:
    """One image: its labels, its JPEG bytes and the boxes of the drawn objects in BOXED_ATTRIBUTES."""
    r = photo_rng(seed, idx)
    return draw_photo(r, who, sample_photo(r, who), quality)


def photo_rng(seed: int, idx: int) -> np.random.Generator:
    """The generator of image `idx`: it draws the photo's traits, then the picture."""
    return np.random.default_rng([seed, 2, idx])


def draw_photo(
    r: np.random.Generator, who: Identity, photo: Photo, quality: tuple[int, int]
) -> tuple[dict[str, bool], bytes, Boxes]:
    """The rest of `render` once the photo's traits are drawn from `r`: labels, JPEG bytes and boxes."""
    bg = draw_background(r)
    canvas = bg.resize((IMAGE_WIDTH * S, IMAGE_HEIGHT * S), Image.Resampling.NEAREST)
    angle = math.radians(r.uniform(-10, 10))
    scale = ZOOM * r.uniform(0.93, 1.07)
    dx, dy = r.uniform(-5, 5), r.uniform(-5, 5)
    pen = Pen(ImageDraw.Draw(canvas), angle, scale, dx, dy)
    draw_person(r, who, photo, pen)
    boxes = {
        name: (max(0.0, x0 / S), max(0.0, y0 / S), min(float(IMAGE_WIDTH), x1 / S), min(float(IMAGE_HEIGHT), y1 / S))
        for name, (x0, y0, x1, y1) in pen.boxes.items()
    }
    # The eye centres as drawn, posed, in image pixels (canvas pixels 2j, 2j+1 average into pixel j, whose
    # centre is canvas coordinate 2j + 0.5); kept beside the boxes for `face_with_eyes`, never written out.
    f = Face(who, photo)
    (lx, ly), (rx, ry) = (pen.p(f.cx + side * f.es, f.eye_y) for side in (-1, 1))
    boxes[EYES] = ((lx - 0.5) / S, (ly - 0.5) / S, (rx - 0.5) / S, (ry - 0.5) / S)
    out = np.asarray(canvas.reduce(S), dtype=np.float32)
    return labels(who, photo), _finish(r, out, photo.blurry, quality), boxes


def _finish(r: np.random.Generator, out: np.ndarray, blurry: bool, quality: tuple[int, int]) -> bytes:
    """Lighting (directional gradient, brightness, contrast, per-channel colour gains), blur, noise, JPEG."""
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
    if blurry:
        pil = Image.fromarray(np.clip(out, 0, 255).astype(np.uint8), "RGB")
        out = np.asarray(pil.filter(ImageFilter.GaussianBlur(float(r.uniform(1.3, 2.0)))), dtype=np.float32)
    # Gaussian pixel noise: a random window of a fixed bank (drawing fresh normals costs more than the face)
    sigma = np.float32(r.uniform(1.5, 6.0))
    bank = _noise_bank()
    off = int(r.integers(0, bank.size - out.size))
    out += bank[off : off + out.size].reshape(out.shape) * sigma
    out += 0.5
    final = Image.fromarray(np.clip(out, 0, 255).astype(np.uint8), "RGB")
    q = int(r.integers(quality[0], quality[1] + 1))
    buf = io.BytesIO()
    final.save(buf, format="JPEG", quality=q)
    return buf.getvalue()


def render_task(args: tuple[int, int, Identity, tuple[int, int]]) -> tuple[dict[str, bool], bytes, Boxes]:
    return render(*args)


def face_with_eyes(
    seed: int, index: int, quality: int = 95
) -> tuple[bytes, tuple[tuple[float, float], tuple[float, float]]]:
    """One synthetic 178×218 face (JPEG bytes, its own identity) and its true eye centres (image-left first, pixels).

    For checking face alignment: the eyes are where they were drawn, not where a detector thinks they are.
    """
    _, data, boxes = render(seed, index, sample_identity(seed, index + 1), (quality, quality))
    lx, ly, rx, ry = boxes[EYES]
    return data, ((lx, ly), (rx, ry))
