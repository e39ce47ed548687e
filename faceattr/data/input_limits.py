"""Limits on what an input may cost, and the header check that applies them, in one place (a light module:
the CLI's --help and the unzip stage read it without importing torch; PIL loads only when an image is checked)."""

from __future__ import annotations

import io
import warnings

MAX_MEGAPIXELS = 50.0  # larger images are refused before decoding (a 30000² PNG is 100 KB on disk, 2.7 GB decoded)
MAX_IMAGE_MB = 64  # one image entry expands to at most this (a CelebA crop is ~10 KB; 300 MB of zeros is a bomb)
SMALL_SIDE = 32  # images with a side under this many pixels are listed as far below any training size


def pixel_problem(data: bytes, max_megapixels: float = MAX_MEGAPIXELS) -> str | None:
    """Why an image is too large to decode, judged from its header alone; None when it is within the limit
    (or has no header PIL can read: then the decoder decides whether it is an image at all)."""
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
    if width * height > max_megapixels * 1e6:
        return f"{width}×{height} ({width * height / 1e6:.0f} megapixels) is over the limit of {max_megapixels:g} megapixels"
    return None
