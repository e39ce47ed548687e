"""Batched prediction on uint8 image tensors: one code path for validation, evaluation and `predict`."""

from __future__ import annotations

import torch
from torch import nn

from faceattr.device import autocast
from faceattr.images import normalize
from faceattr.models import ModelSpec
from faceattr.pixels import Images, as_images


@torch.inference_mode()
def predict_logits(model: nn.Module, images: Images | torch.Tensor, spec: ModelSpec, device: torch.device,
                   batch_size: int = 256, bf16: bool = False, channels_last: bool = True,
                   tta_hflip: bool = False) -> torch.Tensor:
    """Logits (float32, on the CPU) for uint8 N×3×H×W images (a tensor or pixel-cache rows), in batches.

    With `tta_hflip`, the logits of each image and its mirror image are averaged (test-time augmentation).
    """
    model.eval()
    images = as_images(images)
    out = []
    for start in range(0, len(images), batch_size):
        batch = images.gather(torch.arange(start, min(len(images), start + batch_size)))
        x = normalize(batch.to(device, non_blocking=True), spec.mean, spec.std)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast(device, bf16):
            logits = model(x).float()
            if tta_hflip:
                logits = (logits + model(x.flip(-1)).float()) / 2
        out.append(logits.cpu())
    if not out:
        return torch.empty((0, len(spec.attributes)))
    return torch.cat(out)
