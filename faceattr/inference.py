"""Batched prediction on uint8 image tensors: one code path for validation, evaluation and `predict`."""

from __future__ import annotations

import torch
from torch import nn

from faceattr.device import autocast
from faceattr.images import normalize
from faceattr.models import ModelSpec


@torch.inference_mode()
def predict_logits(model: nn.Module, images: torch.Tensor, spec: ModelSpec, device: torch.device,
                   batch_size: int = 256, bf16: bool = False, channels_last: bool = True,
                   tta_hflip: bool = False) -> torch.Tensor:
    """Logits (float32, on the CPU) for a uint8 N×3×H×W tensor, in batches.

    With `tta_hflip`, the logits of each image and its mirror image are averaged (test-time augmentation).
    """
    model.eval()
    out = []
    for start in range(0, images.shape[0], batch_size):
        x = normalize(images[start:start + batch_size].to(device, non_blocking=True), spec.mean, spec.std)
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
