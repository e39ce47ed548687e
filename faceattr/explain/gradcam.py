"""Where a model looks: Grad-CAM heat maps per attribute, and the feature maps of a named layer.

Grad-CAM (Selvaraju et al., 2017) weighs each channel of the last convolutional block's output by the mean
gradient of one attribute's logit over it, sums, and keeps the positive part: the regions whose activation
raises that logit. With `against`, the negated logit: the regions that argue the attribute is absent.
For a head that is global average pooling and one linear layer (MobileNetV2, ResNet) this is exactly the
class activation map relu(Σₖ W[c,k]·Aₖ), up to scale. The hooks are written here (a few lines) rather than
taken from a package: `grad-cam` pulls an unpinned OpenCV that resolves to 5.x and breaks face detection.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from faceattr.data.decoding import normalize
from faceattr.errors import FaceattrError
from faceattr.model.heads import backbone_of
from faceattr.model.layers import layer_names
from faceattr.model.model_file import ModelSpec


def find_layer(model: nn.Module, arch: str, name: str | None = None) -> nn.Module:
    """The module called `name` (default: Grad-CAM's layer, the last convolutional block)."""
    allowed = layer_names(arch)
    name = name or allowed[-1]
    if name not in allowed:
        raise FaceattrError(f"layer {name!r} is not one of {arch}'s blocks: {', '.join(allowed)}")
    return backbone_of(model).get_submodule(name)  # the same names under every head


def block_at_stride(model: nn.Module, spec: ModelSpec, stride: int) -> str:
    """The deepest block whose maps are at least input/`stride` in height and width (e.g. 8: 14×12 cells
    at a 109×89 input, where the last block has 4×3). Measured by one forward pass of a blank image."""
    names = layer_names(spec.arch)
    sizes: dict[str, tuple[int, int]] = {}
    handles = [
        find_layer(model, spec.arch, n).register_forward_hook(
            lambda _m, _i, out, n=n: sizes.__setitem__(n, tuple(out.shape[-2:]))
        )
        for n in names
    ]
    try:
        with torch.inference_mode():
            model.eval()(torch.zeros((1, 3, *spec.image_size)))
    finally:
        for handle in handles:
            handle.remove()
    need = [-(-side // stride) for side in spec.image_size]
    return [n for n in names if sizes[n][0] >= need[0] and sizes[n][1] >= need[1]][-1]


def choose_layer(model: nn.Module, spec: ModelSpec, choice: str | None) -> str:
    """A layer named as params and options name it: None or 'last' (the last convolutional block),
    'strideN' (see block_at_stride), or a block's name."""
    if choice in (None, "", "last"):
        return layer_names(spec.arch)[-1]
    if choice.startswith("stride") and choice[6:].isdigit():
        return block_at_stride(model, spec, int(choice[6:]))
    find_layer(model, spec.arch, choice)
    return choice


@dataclass
class Explanation:
    """Grad-CAM of one attribute for a batch: heat maps in [0, 1] at the input size, and probabilities."""

    heat: np.ndarray  # N×H×W float32; each map scaled so its maximum is 1 (all 0 when nothing argues)
    probability: np.ndarray  # N float32, the attribute's probability for each image


# One explanation at a time: a hook sits on the model object while it runs.
_LOCK = threading.Lock()


def _capture_into(captured: list[torch.Tensor]):
    """A forward hook keeping the layer's output of this thread's pass only: a server may run plain
    predictions with the same model in other threads meanwhile."""
    me = threading.get_ident()

    def hook(_module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
        if threading.get_ident() == me:
            captured.append(output)

    return hook


def grad_cam(
    model: nn.Module,
    spec: ModelSpec,
    images: torch.Tensor,
    attribute: str | int,
    against: bool = False,
    device: torch.device | str = "cpu",
    layer: str | None = None,
) -> Explanation:
    """Grad-CAM of `attribute` for uint8 N×3×H×W images already at the model's input size (fp32, eval mode),
    at `layer` (default: the last convolutional block).

    Each image's map depends only on that image (BatchNorm in eval mode), so a batch gives the same maps
    as one image at a time.
    """
    index = attribute if isinstance(attribute, int) else _attribute_index(spec, attribute)
    layer = find_layer(model, spec.arch, layer)
    captured: list[torch.Tensor] = []
    with _LOCK:
        handle = layer.register_forward_hook(_capture_into(captured))
        try:
            model.eval()
            # cuDNN's LSTM (the attention head) has no backward in eval mode; the pass is small anyway
            with torch.enable_grad(), torch.backends.cudnn.flags(enabled=False):
                x = normalize(images.to(device), spec.mean, spec.std).float().requires_grad_(True)
                logits = model(x)[:, index].float()
                score = -logits if against else logits
                (grads,) = torch.autograd.grad(score.sum(), captured[0])
        finally:
            handle.remove()
    acts = captured[0].detach().float()
    weights = grads.float().mean(dim=(2, 3), keepdim=True)  # N×K×1×1: mean gradient per channel
    cam = F.relu((weights * acts).sum(dim=1, keepdim=True))  # N×1×h×w
    cam = F.interpolate(cam, size=images.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    peak = cam.amax(dim=(1, 2), keepdim=True)
    cam = torch.where(peak > 0, cam / peak.clamp_min(1e-12), torch.zeros_like(cam))
    prob = torch.sigmoid(logits.detach()).cpu().numpy().astype(np.float32)
    return Explanation(cam.cpu().numpy().astype(np.float32), prob)


def feature_maps(
    model: nn.Module,
    spec: ModelSpec,
    image: torch.Tensor,
    layer: str,
    device: torch.device | str = "cpu",
    limit: int = 64,
) -> np.ndarray:
    """The activations of `layer` for one uint8 3×H×W image: up to `limit` channels (the most active
    first, by mean activation), each scaled to [0, 1], as a C×h×w float32 array."""
    module = find_layer(model, spec.arch, layer)
    captured: list[torch.Tensor] = []
    with _LOCK:
        handle = module.register_forward_hook(_capture_into(captured))
        try:
            model.eval()
            with torch.inference_mode():
                model(normalize(image[None].to(device), spec.mean, spec.std).float())
        finally:
            handle.remove()
    acts = captured[0][0].detach().float().cpu()
    order = acts.mean(dim=(1, 2)).argsort(descending=True)[:limit]
    acts = acts[order]
    lo = acts.amin(dim=(1, 2), keepdim=True)
    span = (acts.amax(dim=(1, 2), keepdim=True) - lo).clamp_min(1e-12)
    return ((acts - lo) / span).numpy().astype(np.float32)


def _attribute_index(spec: ModelSpec, name: str) -> int:
    if name not in spec.attributes:
        raise FaceattrError(f"attribute {name!r} is not one of the model's: {', '.join(spec.attributes)}")
    return spec.attributes.index(name)


def resolve_attributes(spec: ModelSpec, names: Sequence[str] | None) -> list[str]:
    """The attributes asked for (all of the model's when none), checked against the model."""
    if not names:
        return list(spec.attributes)
    for name in names:
        _attribute_index(spec, name)
    return list(dict.fromkeys(names))


def heat_fraction_in_box(heat: np.ndarray, box: Sequence[float], scale: tuple[float, float] = (1.0, 1.0)) -> float:
    """The share of a heat map's total inside a box (x0, y0, x1, y1), the box given in pixels of an image
    `scale` = (sx, sy) times larger than the map. 0 for an empty map."""
    total = float(heat.sum())
    if total <= 0:
        return 0.0
    sx, sy = scale
    h, w = heat.shape
    x0, x1 = int(np.floor(box[0] / sx)), int(np.ceil(box[2] / sx))
    y0, y1 = int(np.floor(box[1] / sy)), int(np.ceil(box[3] / sy))
    inside = heat[max(0, y0) : min(h, y1), max(0, x0) : min(w, x1)].sum()
    return float(inside) / total
