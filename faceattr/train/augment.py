"""The batched, device-side augmentation of training: flips, affine jitter, brightness/contrast, erasing and
mixup, drawn from one generator so a resumed run draws the same numbers.

They run on uint8 batches already on the training device (faceattr.data.decoding decodes once per image).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F


@dataclass
class AugmentDraw:
    """The random numbers of one batch's augmentation: per image flip, affine, brightness/contrast and the
    erased box (top, left, bottom, right as fractions of the image; an empty box where nothing is erased)."""

    flip: torch.Tensor
    angle: torch.Tensor
    scale: torch.Tensor
    tx: torch.Tensor
    ty: torch.Tensor
    gain: torch.Tensor
    bias: torch.Tensor
    geometric: bool
    photometric: bool
    erase_box: torch.Tensor | None = None

    def __getitem__(self, part: slice) -> "AugmentDraw":
        """The draw of a slice of the batch (a DDP process's share of the global batch)."""
        return AugmentDraw(
            **{f: getattr(self, f)[part] for f in ("flip", "angle", "scale", "tx", "ty", "gain", "bias")},
            geometric=self.geometric,
            photometric=self.photometric,
            erase_box=None if self.erase_box is None else self.erase_box[part],
        )


# Random erasing's box (Zhong et al. 2017, as torchvision's RandomErasing draws it): 2-33 % of the image,
# aspect ratio log-uniform in [0.3, 3.3].
ERASE_AREA = (0.02, 0.33)
ERASE_RATIO = (0.3, 3.3)


def _draw_erase_box(n: int, generator: torch.Generator, probability: float) -> torch.Tensor:
    """N×4 boxes (top, left, bottom, right fractions), each image's erased with `probability`."""
    u = torch.rand(n, 5, generator=generator)
    area = ERASE_AREA[0] + u[:, 0] * (ERASE_AREA[1] - ERASE_AREA[0])
    log_lo, log_hi = math.log(ERASE_RATIO[0]), math.log(ERASE_RATIO[1])
    ratio = torch.exp(log_lo + u[:, 1] * (log_hi - log_lo))  # height / width, in fractions of the image
    h, w = (area * ratio).sqrt().clamp(max=1.0), (area / ratio).sqrt().clamp(max=1.0)
    top, left = u[:, 2] * (1 - h), u[:, 3] * (1 - w)
    box = torch.stack([top, left, top + h, left + w], 1)
    return torch.where((u[:, 4] < probability)[:, None], box, torch.zeros_like(box))


def draw_augment(
    n: int,
    generator: torch.Generator,
    hflip: bool = True,
    max_rotate_deg: float = 0.0,
    max_translate: float = 0.0,
    max_scale: float = 0.0,
    brightness: float = 0.0,
    contrast: float = 0.0,
    erase: float = 0.0,
) -> AugmentDraw:
    """Draw a batch's augmentation from `generator` (on the CPU), so runs are reproducible and resumable
    whatever the device, and every DDP process can draw the global batch's numbers and take its share.
    `erase` is the probability of random erasing; its numbers are drawn only when it is on, so runs without
    it keep their random stream."""

    def uniform(scale: float) -> torch.Tensor:
        return (torch.rand(n, generator=generator) * 2 - 1) * scale

    flip = torch.rand(n, generator=generator) < 0.5 if hflip else torch.zeros(n, dtype=torch.bool)
    angle = uniform(math.radians(max_rotate_deg))
    scale = 1 + uniform(max_scale)
    tx, ty = uniform(max_translate) * 2, uniform(max_translate) * 2
    gain, bias = 1 + uniform(contrast), uniform(brightness)
    return AugmentDraw(
        flip=flip,
        angle=angle,
        scale=scale,
        tx=tx,
        ty=ty,
        gain=gain,
        bias=bias,
        geometric=bool(max_rotate_deg or max_translate or max_scale or hflip),
        photometric=bool(brightness or contrast),
        erase_box=_draw_erase_box(n, generator, erase) if erase else None,
    )


def draw_mixup(n: int, generator: torch.Generator, beta_param: float) -> tuple[float, torch.Tensor]:
    """Mixup's weight λ ~ Beta(beta_param, beta_param) (train.mixup) and one random key per image of the global batch, drawn from
    `generator` (on the CPU) so runs are reproducible and resumable; each DDP process pairs the images of its
    own share by sorting their keys. torch's Beta sampler takes no generator, hence the seeded `random`."""
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    return random.Random(seed).betavariate(beta_param, beta_param), torch.rand(n, generator=generator)


def _affine_grid(theta: torch.Tensor, n: int, h: int, w: int) -> torch.Tensor:
    """F.affine_grid(theta, (n, ·, h, w), align_corners=False), built by broadcasting: the map is separable in
    x and y, so this costs a few passes over the grid instead of a batched matrix product per pixel."""
    xs = (torch.arange(w, device=theta.device, dtype=theta.dtype) * 2 + 1) / w - 1
    ys = (torch.arange(h, device=theta.device, dtype=theta.dtype) * 2 + 1) / h - 1
    t = theta.view(n, 2, 3, 1, 1)
    return torch.stack(
        [
            t[:, 0, 0] * xs + (t[:, 0, 1] * ys[:, None] + t[:, 0, 2]),
            t[:, 1, 0] * xs + (t[:, 1, 1] * ys[:, None] + t[:, 1, 2]),
        ],
        dim=-1,
    )


def augment_batch(
    batch: torch.Tensor,
    draw: AugmentDraw,
    mean: Sequence[float],
    std: Sequence[float],
    memory_format: torch.memory_format = torch.channels_last,
) -> torch.Tensor:
    """uint8 N×3×H×W → the normalised, augmented float batch (flip, small affine, brightness/contrast, and
    random erasing: the drawn box set to 0, the dataset mean after normalisation).

    One resampling pass and one fused multiply-add: bilinear sampling with reflection padding weighs
    every output pixel by weights that sum to 1, so it commutes with per-image, per-channel affine maps;
    normalisation and brightness/contrast are therefore folded into a single scale and offset applied
    after sampling the raw pixels, and that pass writes the result in the model's memory format.
    """
    x = batch.float()
    n = x.shape[0]
    if draw.geometric:
        sign = torch.where(draw.flip, -1.0, 1.0)
        cos, sin = torch.cos(draw.angle) / draw.scale, torch.sin(draw.angle) / draw.scale
        theta = torch.stack(
            [torch.stack([cos * sign, -sin, draw.tx], 1), torch.stack([sin * sign, cos, draw.ty], 1)], 1
        )
        grid = _affine_grid(theta.to(x.device, x.dtype), n, x.shape[2], x.shape[3])
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    m = torch.tensor(mean, dtype=x.dtype).view(1, 3)
    s = torch.tensor(std, dtype=x.dtype).view(1, 3)
    gain, bias = (draw.gain, draw.bias) if draw.photometric else (torch.ones(n), torch.zeros(n))
    scale = gain.to(x.dtype).view(n, 1) / (255 * s)  # N×3
    offset = bias.to(x.dtype).view(n, 1) - gain.to(x.dtype).view(n, 1) * m / s
    out = torch.empty(x.shape, dtype=x.dtype, device=x.device, memory_format=memory_format)
    torch.addcmul(offset.to(x.device).view(n, 3, 1, 1), x, scale.to(x.device).view(n, 3, 1, 1), out=out)
    if draw.erase_box is not None:
        out.masked_fill_(erase_mask(draw.erase_box, x.shape[2], x.shape[3]).to(x.device), 0.0)
    return out


def erase_mask(box: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """N×1×H×W boolean mask of the pixels whose centres fall in each image's box (fractions, as drawn)."""
    ys = (torch.arange(h, dtype=box.dtype) + 0.5) / h
    xs = (torch.arange(w, dtype=box.dtype) + 0.5) / w
    rows = (ys >= box[:, 0:1]) & (ys < box[:, 2:3])  # N×H
    cols = (xs >= box[:, 1:2]) & (xs < box[:, 3:4])  # N×W
    return (rows[:, :, None] & cols[:, None, :])[:, None]


def augment(
    batch: torch.Tensor, generator: torch.Generator, mean: Sequence[float], std: Sequence[float], **options
) -> torch.Tensor:
    """Draw and apply a uint8 batch's augmentation and normalisation (see draw_augment for the options)."""
    return augment_batch(batch, draw_augment(batch.shape[0], generator, **options), mean, std)
