"""Images as uint8 tensors at the training resolution, decoded once, and batched GPU-friendly transforms.

Decoding and resizing happen once per image (torchvision's decoders, antialiased resize); every epoch
then works on a uint8 N×3×H×W tensor, so no epoch decodes a JPEG. Normalisation and augmentation run
batched on the training device.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
from torchvision.io import ImageReadMode, decode_image
from torchvision.transforms.v2 import functional as TF

from faceattr.errors import FaceattrError


def decode_rgb(data: bytes | torch.Tensor, source: str = "image", upright: bool = False) -> torch.Tensor:
    """Decode image bytes to a uint8 3×H×W RGB tensor at full size; a non-image is a FaceattrError naming `source`.

    `upright` applies the EXIF orientation, as camera and phone photos need (aligned crops carry none).
    """
    raw = data if isinstance(data, torch.Tensor) else torch.frombuffer(bytearray(data), dtype=torch.uint8)
    try:
        return decode_image(raw, mode=ImageReadMode.RGB, apply_exif_orientation=upright)
    except RuntimeError:
        raise FaceattrError(f"{source}: not a readable image (unsupported format or corrupt data)") from None


def resize_to(img: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """A uint8 3×H×W tensor resized (antialiased) to `size` = (height, width); unchanged if already that size."""
    if tuple(img.shape[1:]) != tuple(size):
        img = TF.resize(img, list(size), antialias=True)
    return img


def decode_resized(data: bytes | torch.Tensor, size: tuple[int, int], source: str = "image") -> torch.Tensor:
    """Decode image bytes to a uint8 3×H×W tensor resized (antialiased) to `size` = (height, width)."""
    return resize_to(decode_rgb(data, source), size)


def load_folder_images(folder: str | Path, names: Sequence[str], size: tuple[int, int]) -> torch.Tensor:
    """Decode `names` from `folder` into one uint8 N×3×H×W tensor."""
    folder = Path(folder)
    out = torch.empty((len(names), 3, *size), dtype=torch.uint8)
    for k, name in enumerate(names):
        path = folder / name
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise FaceattrError(f"{path}: image not found") from None
        out[k] = decode_resized(data, size, str(path))
    return out


def normalize(batch: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """uint8 N×3×H×W → float, scaled to [0, 1] and normalised per channel."""
    x = batch.float().div_(255)
    m = torch.tensor(mean, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    s = torch.tensor(std, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return x.sub_(m).div_(s)


def augment(x: torch.Tensor, generator: torch.Generator, hflip: bool = True, max_rotate_deg: float = 0.0,
            max_translate: float = 0.0, max_scale: float = 0.0, brightness: float = 0.0,
            contrast: float = 0.0) -> torch.Tensor:
    """Random flip, small affine and brightness/contrast on a float batch, all in one batched pass.

    Random numbers come from `generator` (on the CPU), so results are reproducible and resumable
    whatever the device.
    """
    n = x.shape[0]

    def uniform(scale: float) -> torch.Tensor:
        return (torch.rand(n, generator=generator) * 2 - 1) * scale

    flip = torch.rand(n, generator=generator) < 0.5 if hflip else torch.zeros(n, dtype=torch.bool)
    angle = uniform(math.radians(max_rotate_deg))
    scale = 1 + uniform(max_scale)
    tx, ty = uniform(max_translate) * 2, uniform(max_translate) * 2
    gain, bias = 1 + uniform(contrast), uniform(brightness)
    if max_rotate_deg or max_translate or max_scale or hflip:
        sign = torch.where(flip, -1.0, 1.0)
        cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
        theta = torch.stack([torch.stack([cos * sign, -sin, tx], 1), torch.stack([sin * sign, cos, ty], 1)], 1)
        grid = F.affine_grid(theta.to(x.device, x.dtype), list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    if brightness or contrast:
        x = x * gain.to(x.device, x.dtype).view(n, 1, 1, 1) + bias.to(x.device, x.dtype).view(n, 1, 1, 1)
    return x
