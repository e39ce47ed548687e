"""Backbones with a multi-label head (one logit per attribute), and the self-contained model file.

`models/model.pt` holds the weights with everything inference needs: architecture, width multiplier,
attribute names, input size and normalisation, so `faceattr` commands need no params.yaml.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn
from torchvision import models as tvm

from faceattr.atomic import atomic_path
from faceattr.errors import FaceattrError

MODEL_FORMAT = "faceattr-model/1"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
ARCHITECTURES = ("mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large", "resnet18", "resnet50",
                 "efficientnet_b0")


@dataclass
class ModelSpec:
    """What is needed to rebuild a trained model and feed it images."""

    arch: str
    alpha: float
    attributes: list[str]
    image_size: tuple[int, int]  # (height, width)
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, raw: dict) -> "ModelSpec":
        """The inverse of dataclasses.asdict (lists from JSON or pickles back to tuples)."""
        return cls(**{**raw, "image_size": tuple(raw["image_size"]), "mean": tuple(raw["mean"]),
                      "std": tuple(raw["std"])})


def build_model(arch: str, num_outputs: int, alpha: float = 1.0) -> nn.Module:
    """A torchvision backbone, randomly initialised, with `num_outputs` logits."""
    if arch not in ARCHITECTURES:
        raise FaceattrError(f"model.arch: unknown architecture {arch!r}; allowed: {', '.join(ARCHITECTURES)}")
    if alpha <= 0:
        raise FaceattrError(f"alpha: the width multiplier must be > 0, got {alpha}")
    if arch == "mobilenet_v2":
        return tvm.mobilenet_v2(weights=None, width_mult=alpha, num_classes=num_outputs)
    if alpha != 1.0:
        raise FaceattrError(f"alpha: {arch} supports only alpha 1.0 (got {alpha}); use mobilenet_v2 for other widths")
    return getattr(tvm, arch)(weights=None, num_classes=num_outputs)


def load_pretrained(model: nn.Module, path: str | Path) -> list[str]:
    """Start from a torchvision-format weights file (e.g. ImageNet weights the user downloaded).

    Nothing is downloaded here. Tensors whose shape differs from the model's (the classifier head, sized
    for another number of classes) are left at their random initialisation; their names are returned.
    Anything else that does not fit is an error naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FaceattrError(
            f"model.pretrained: {path} not found. This pipeline never downloads weights: fetch a torchvision "
            f"weights file (e.g. mobilenet_v2-7ebf99e0.pth) on a machine with internet, copy it here, and "
            f"set model.pretrained to its path, or set model.pretrained to '' to train from scratch"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001
        raise FaceattrError(f"model.pretrained: {path} is not a readable weights file ({exc})") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    own = model.state_dict()
    unknown = [k for k in state if k not in own]
    missing = [k for k in own if k not in state]
    if unknown or missing:
        raise FaceattrError(
            f"model.pretrained: {path} does not fit this architecture ({len(missing)} tensors missing, e.g. "
            f"{missing[:2]}; {len(unknown)} unexpected, e.g. {unknown[:2]}); check model.arch and alpha"
        )
    skipped = [k for k, v in state.items() if v.shape != own[k].shape]
    model.load_state_dict({k: v for k, v in state.items() if k not in skipped}, strict=False)
    return skipped


def save_model(path: str | Path, model: nn.Module, spec: ModelSpec) -> str:
    """Write the model file atomically with byte-stable content; return its SHA-256."""
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    payload = {"format": MODEL_FORMAT, "spec": asdict(spec), "state_dict": state}
    buffer = io.BytesIO()  # a buffer, not the temp file, so the archive's inner name never varies
    torch.save(payload, buffer)
    data = buffer.getvalue()
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def load_model(path: str | Path, device: torch.device | str = "cpu") -> tuple[nn.Module, ModelSpec]:
    """Rebuild a model saved by save_model, in eval mode, on `device`."""
    path = Path(path)
    if not path.is_file():
        raise FaceattrError(f"{path}: model file not found (run `dvc repro` or pass --model)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means the same thing to the user
        raise FaceattrError(f"{path}: not a readable model file ({exc})") from None
    if not isinstance(payload, dict) or payload.get("format") != MODEL_FORMAT:
        raise FaceattrError(f"{path}: not a faceattr model file (expected format {MODEL_FORMAT})")
    spec = ModelSpec.from_dict(payload["spec"])
    model = build_model(spec.arch, len(spec.attributes), spec.alpha)
    model.load_state_dict(payload["state_dict"])
    return model.to(device).eval(), spec


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
