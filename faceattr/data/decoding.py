"""Decoding images to uint8 tensors, resizing them, and normalising batches for a model.

Decoding and resizing happen once per image (torchvision's decoders, antialiased resize), in the
preprocess stage's pixel cache, so no epoch decodes a JPEG; the CLI and `faceattr serve` decode with the
same functions. Normalisation runs batched on the device, on uint8 batches.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torchvision.io import ImageReadMode, decode_image
from torchvision.transforms.v2 import functional as TF

from faceattr.data.input_limits import MAX_MEGAPIXELS, pixel_problem
from faceattr.errors import FaceattrError


def check_pixels(data: bytes | torch.Tensor, source: str, max_megapixels: float = MAX_MEGAPIXELS) -> None:
    """Refuse an image whose header declares more than `max_megapixels`, before anything is decoded."""
    problem = pixel_problem(data if isinstance(data, (bytes, bytearray)) else data.numpy().tobytes(), max_megapixels)
    if problem:
        raise FaceattrError(f"{source}: {problem}")


def decode_rgb(
    data: bytes | torch.Tensor, source: str = "image", upright: bool = False, max_megapixels: float = MAX_MEGAPIXELS
) -> torch.Tensor:
    """Decode image bytes to a uint8 3×H×W RGB tensor at full size; a non-image is a FaceattrError naming `source`.

    `upright` applies the EXIF orientation, as camera and phone photos need (aligned crops carry none).
    Images of more than `max_megapixels` are refused before decoding (an animated GIF's frames all count:
    the decoder decodes every one; its first is the image). An empty file is refused like any non-image.
    16-bit images (PNG) are scaled to 8 bits: torchvision decodes them as uint16, which would otherwise pass
    on twice the bytes per image.
    """
    if (
        data.numel() if isinstance(data, torch.Tensor) else len(data)
    ) == 0:  # torch.frombuffer refuses an empty buffer with a ValueError of its own
        raise FaceattrError(f"{source}: empty file (0 bytes)")
    check_pixels(data, source, max_megapixels)
    raw = data if isinstance(data, torch.Tensor) else torch.frombuffer(bytearray(data), dtype=torch.uint8)
    try:
        img = decode_image(raw, mode=ImageReadMode.RGB, apply_exif_orientation=upright)
    except (RuntimeError, ValueError):
        raise FaceattrError(f"{source}: {_unreadable(raw)}") from None
    if img.ndim == 4 and img.shape[0] >= 1:  # an animated GIF: N×3×H×W, within the limit
        img = img[0].clone()  # not a view that keeps every frame alive
    if img.dtype != torch.uint8:
        img = TF.to_dtype(img, torch.uint8, scale=True)
    if img.ndim != 3 or img.shape[0] != 3:
        raise FaceattrError(f"{source}: decoded to shape {tuple(img.shape)}, not 3×H×W RGB")
    return img


# Formats torchvision's decode_image does not read, by their first bytes, to name in the error.
_UNREAD_FORMATS = {b"BM": "a BMP image", b"II*\0": "a TIFF image", b"MM\0*": "a TIFF image"}


def _unreadable(raw: torch.Tensor) -> str:
    head = raw[:21].numpy().tobytes()
    for magic, kind in _UNREAD_FORMATS.items():
        if head.startswith(magic):
            return f"{kind}, a format that is not read (JPEG, PNG, WebP or GIF are)"
    if head[:4] == b"RIFF" and head[8:16] == b"WEBPVP8X" and len(head) == 21 and head[20] & 0x02:
        return "an animated WebP image, which is not read (a still WebP is)"
    return "not a readable image (unsupported format or corrupt data)"


def resize_to(img: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """A uint8 3×H×W tensor resized (antialiased) to `size` = (height, width); unchanged if already that size."""
    if tuple(img.shape[1:]) != tuple(size):
        img = TF.resize(img, list(size), antialias=True)
    return img


def decode_resized(
    data: bytes | torch.Tensor, size: tuple[int, int], source: str = "image", max_megapixels: float = MAX_MEGAPIXELS
) -> torch.Tensor:
    """Decode image bytes to a uint8 3×H×W tensor resized (antialiased) to `size` = (height, width)."""
    return resize_to(decode_rgb(data, source, max_megapixels=max_megapixels), size)


def normalize(batch: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """uint8 N×3×H×W → float, scaled to [0, 1] and normalised per channel."""
    x = batch.float().div_(255)
    m = torch.tensor(mean, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    s = torch.tensor(std, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return x.sub_(m).div_(s)
