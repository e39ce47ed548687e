"""Limits on what an input may cost, and the header check that applies them, in one place (a light module:
the CLI's --help and the unzip stage read it without importing torch; PIL loads only when an image is checked)."""

from __future__ import annotations

import io
import warnings

MAX_MEGAPIXELS = 50.0  # larger images are refused before decoding (a 30000² PNG is 100 KB on disk, 2.7 GB decoded)
MAX_IMAGE_MB = 64  # one image file or entry holds at most this (a CelebA crop is ~10 KB; 300 MB of zeros is a bomb)
SMALL_SIDE = 32  # images with a side under this many pixels are listed as far below any training size


def pixel_problem(data: bytes, max_megapixels: float = MAX_MEGAPIXELS) -> str | None:
    """Why an image is too large to decode, judged from its header alone; None when it is within the limit
    (or has no header PIL can read: then the decoder decides whether it is an image at all).

    The limit is on the pixels the decoder allocates: an animated GIF's canvas once per frame (torchvision
    decodes every frame), counted from its blocks without decoding any. Other formats decode one frame
    (an APNG its default image; an animated WebP is refused by the decoder)."""
    limit = max_megapixels * 1e6
    if data[:4] == b"GIF8":
        gif = gif_frames(data, stop_past=limit)
        if gif is not None and gif[3] > limit and gif[3] != gif[0] * gif[1]:  # not one frame of its canvas
            width, height, frames, pixels = gif
            return (
                f"a GIF of {width}×{height} decoded frame by frame: {frames} frame(s) already make "
                f"{pixels / 1e6:.0f} megapixels, over the limit of {max_megapixels:g} megapixels"
            )
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as img:
                width, height = img.size
        except Image.DecompressionBombError:  # PIL will not even open it
            return f"over PIL's decompression-bomb limit of {2 * Image.MAX_IMAGE_PIXELS / 1e6:.0f} megapixels"
        except Exception:  # noqa: BLE001 - not for the size check to judge
            return None
    if width * height > limit:
        return f"{width}×{height} ({width * height / 1e6:.0f} megapixels) is over the limit of {max_megapixels:g} megapixels"
    return None


def gif_frames(data: bytes, stop_past: float = float("inf")) -> tuple[int, int, int, int] | None:
    """(canvas width, canvas height, frames, pixels decoded) of a GIF, from its blocks alone (nothing is
    decompressed); None when it has no GIF header. A frame costs its canvas, or its own rectangle where that
    is larger (giflib allocates it). Counting stops once the pixels pass `stop_past`, and at the first byte
    that is not a block (the decoder stops there too)."""
    if len(data) < 13 or data[:6] not in (b"GIF87a", b"GIF89a"):
        return None
    width, height = int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little")
    canvas = width * height
    pos = 13 + (3 << ((data[10] & 7) + 1) if data[10] & 0x80 else 0)  # after the global colour table
    frames = pixels = 0
    end = len(data)
    while pos < end and pixels <= stop_past:
        kind = data[pos]
        if kind == 0x2C:  # image descriptor: left, top, width, height, flags; then the LZW code size
            if pos + 10 > end:
                break
            rect = int.from_bytes(data[pos + 5 : pos + 7], "little") * int.from_bytes(data[pos + 7 : pos + 9], "little")
            flags = data[pos + 9]
            pos += 10 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0) + 1
            frames += 1
            pixels += max(canvas, rect)
        elif kind == 0x21:  # extension: its label, then sub-blocks
            pos += 2
        else:  # the trailer (0x3B) or not GIF any more
            break
        while pos < end:  # the data sub-blocks, ended by an empty one
            size = data[pos]
            pos += size + 1
            if size == 0:
                break
    return width, height, frames, pixels
