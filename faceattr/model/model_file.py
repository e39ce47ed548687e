"""Backbones with a multi-label head (one logit per attribute), and the self-contained model file.

`models/model.pt` holds the weights with everything inference needs: architecture, width multiplier,
attribute names, input size and normalisation, so `faceattr` commands need no params.yaml.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import re
import warnings
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Literal, Optional, Union, get_origin

import torch
from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr, ValidationError, model_validator
from torch import nn
from torchvision import models as tvm

from faceattr.atomic import atomic_path
from faceattr.config.choices import ARCHITECTURES, HEADS
from faceattr.config.errors import Allowed, Rejected, short
from faceattr.config.value_types import Alpha, ImageSize, choice, real, width_multiplier_rule
from faceattr.errors import FaceattrError
from faceattr.model.heads import attach_head

MODEL_FORMAT = "faceattr-model/1"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def load_weights_file(path: str | Path | io.BytesIO, what: str) -> object:
    """torch.load restricted to tensors and plain types (weights_only), with our own one-line errors.

    A pickle that names any other Python object (which could run code) is refused without running it.
    torch's own message for that case advises lifting the weights-only restriction, the unsafe action,
    so it is not shown.
    """
    _check_zip_crcs(path, what)
    try:
        with warnings.catch_warnings():  # torch warns in several lines about pickle protocols: one line is ours
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        named = re.search(r"GLOBAL (\S+)", str(exc))
        if named is None:
            raise FaceattrError(_not_weights(path, what)) from None
        raise FaceattrError(
            f"{what}: {path} holds Python objects that are not plain weights ({named.group(1)[:60]}); "
            f"refused without loading it (it could run code). Use a file written by faceattr or "
            f"torch.save of a state_dict from a source you trust"
        ) from None
    except Exception:  # noqa: BLE001 - any unpickling failure means the same thing to the user
        raise FaceattrError(_not_weights(path, what)) from None


def _check_zip_crcs(path: str | Path | io.BytesIO, what: str) -> None:
    """Refuse a weights file whose bytes were altered after it was written, before torch reads it.

    torch.save writes a zip archive whose every entry carries the CRC-32 of its bytes, but torch.load does
    not check them: a flipped byte in a tensor's storage loads silently as a different weight. Here every
    entry's CRC is checked first (zipfile's testzip), so a damaged or altered file is one line naming it and
    the entry that fails. Files that are not zips (torch's legacy format, garbage) go on to torch.load,
    whose errors say what they are; the file's format is unchanged, so a model's bytes and hash are too."""
    start = path.tell() if isinstance(path, io.BytesIO) else 0
    try:
        if not zipfile.is_zipfile(path):
            return
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except Exception:  # noqa: BLE001 - a zip too broken to read: torch.load's failure describes it
        return
    finally:
        if isinstance(path, io.BytesIO):
            path.seek(start)
    if bad is not None:
        shown = "its content" if isinstance(path, io.BytesIO) else path
        raise FaceattrError(
            f"{what}: {shown} is damaged: its entry {bad[:80]!r} fails its CRC-32 check (the file was altered or "
            f"corrupted after it was written); refused without loading it"
        )


def _not_weights(path: str | Path | io.BytesIO, what: str) -> str:
    """The one-line error for a file torch cannot load: what it is in words (text, ONNX, a zip cut short…)."""
    from faceattr.file_types import describe_file, not_a_weights_file

    kind, hint = describe_file(path)
    return not_a_weights_file(what, "its content" if isinstance(path, io.BytesIO) else path, kind, hint)


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
    head: str = "linear"
    # per-attribute decision thresholds chosen with the model (tuned on validation, or the fixed one);
    # None: 0.5. Commands use them unless given --threshold
    thresholds: list[float] | None = None

    def __post_init__(self) -> None:
        # a spec made in code (the train stage makes one before training) follows the rule a loaded one does
        check_attribute_names(self.attributes)

    @classmethod
    def from_dict(cls, raw: object, source: str = "model spec") -> "ModelSpec":
        """The inverse of dataclasses.asdict (lists from JSON or pickles back to tuples), checked.

        A model file comes from anywhere (a colleague, a download): every field is checked before it is
        used, by the types and bounds params.yaml's keys have (faceattr.config.value_types), so a bad spec
        is one line naming the field rather than a traceback or, for an absurd image size, gigabytes
        allocated per image.
        """
        if not isinstance(raw, dict):
            raise FaceattrError(f"{source}: invalid model spec: expected a mapping, got {type(raw).__name__}")
        try:
            spec = _CheckedSpec.model_validate(raw)
        except ValidationError as exc:
            raise FaceattrError(f"{source}: invalid model spec: {_spec_error(exc, raw)}") from None
        check_attribute_names(spec.attributes, source)
        return cls(
            arch=spec.arch,
            alpha=spec.alpha,
            attributes=list(spec.attributes),
            image_size=spec.image_size,
            mean=spec.mean,
            std=spec.std,
            extra=dict(spec.extra or {}),
            head=spec.head,
            thresholds=[float(t) for t in spec.thresholds] if spec.thresholds is not None else None,
        )

    def decision_thresholds(self, override: float | None = None) -> list[float]:
        """One threshold per attribute: `override` when given, else the model's own, else 0.5."""
        if override is not None:
            return [float(override)] * len(self.attributes)
        return list(self.thresholds) if self.thresholds is not None else [0.5] * len(self.attributes)


ATTRIBUTE_NAME = re.compile(r"[A-Za-z0-9_]{1,100}")
ATTRIBUTE_NAME_RULE = "letters, digits and _ (1 to 100 characters)"


def check_attribute_names(names: object, source: str = "model spec") -> None:
    """A model's attribute names become file names (`faceattr explain`'s PNGs, the explain stage's gallery)
    and JSON keys: each must be 1 to 100 ASCII letters, digits or _ (CelebA's names are), and none twice.
    So no name from a model file can hold a path separator, `..`, a control character or a space."""
    if not isinstance(names, (list, tuple)):
        return  # not a list: the spec's types say so
    seen: set[str] = set()
    for name in names:
        if not isinstance(name, str) or ATTRIBUTE_NAME.fullmatch(name) is None:
            raise FaceattrError(
                f"{source}: invalid model spec: attribute {short(name, 40)} is not a name of {ATTRIBUTE_NAME_RULE}"
            )
        if name in seen:
            raise FaceattrError(f"{source}: invalid model spec: attribute {name!r} is named twice")
        seen.add(name)


_Finite = Annotated[Union[StrictInt, Annotated[StrictFloat, Field(allow_inf_nan=False)]], Allowed("a finite number")]


class _CheckedSpec(BaseModel):
    """A model file's spec as it may be written: each field with params.yaml's type for the same value where
    there is one (arch, alpha, image_size, head), and the rule between arch and alpha that params.yaml has."""

    model_config = ConfigDict(extra="forbid")

    arch: choice(ARCHITECTURES)
    alpha: Alpha
    attributes: Annotated[
        tuple[Annotated[StrictStr, Field(min_length=1, max_length=100)], ...],
        Field(min_length=1, max_length=1000),
        Allowed(f"a list of 1 to 1000 names of {ATTRIBUTE_NAME_RULE}"),
    ]
    image_size: ImageSize
    mean: Annotated[tuple[_Finite, _Finite, _Finite], Allowed("three finite numbers")]
    std: Annotated[
        tuple[Annotated[_Finite, Field(gt=0)], Annotated[_Finite, Field(gt=0)], Annotated[_Finite, Field(gt=0)]],
        Allowed("three finite numbers > 0"),
    ]
    extra: Optional[dict] = None
    head: choice(HEADS) = "linear"  # files from before heads existed are linear
    thresholds: Annotated[Optional[tuple[real(0, 1), ...]], Allowed("one number in [0, 1] per attribute")] = None

    @model_validator(mode="after")
    def _rules(self) -> "_CheckedSpec":
        width_multiplier_rule(self.arch, self.alpha, "arch")
        if self.thresholds is not None and len(self.thresholds) != len(self.attributes):
            raise Rejected(
                f"one number in [0, 1] per attribute ({len(self.attributes)})", list(self.thresholds), "thresholds"
            )
        return self


def _spec_error(exc: ValidationError, raw: dict) -> str:
    """What is wrong with a spec, in words: the missing or unknown fields, else the first bad field's value
    and what its type allows."""
    errors = exc.errors(include_url=False)
    missing = [str(e["loc"][0]) for e in errors if e["type"] == "missing" and len(e["loc"]) == 1]
    if missing:
        return f"missing {', '.join(missing)}"
    unknown = sorted(str(e["loc"][0])[:40] for e in errors if e["type"] == "extra_forbidden")
    if unknown:
        return f"unknown field(s) {', '.join(unknown)}"
    error = errors[0]
    rejected = (error.get("ctx") or {}).get("error")
    if isinstance(rejected, Rejected):  # a rule across fields
        key, value, allowed = rejected.key, rejected.value, rejected.allowed
    else:
        key = str(error["loc"][0])
        info = _CheckedSpec.model_fields[key]
        value = raw[key]
        allowed = next((m.text for m in info.metadata if isinstance(m, Allowed)), error["msg"])
        if get_origin(info.annotation) is Literal:  # a choice
            return f"{key} {short(value, 40)} is not {allowed}"
    return f"{key} must be {allowed}, got {short(value, 40)}"


def build_model(arch: str, num_outputs: int, alpha: float = 1.0, head: str = "linear") -> nn.Module:
    """A torchvision backbone, randomly initialised, with `num_outputs` logits from the chosen head.

    `arch` and `head` are among faceattr.config.choices' (the config and ModelSpec.from_dict check them); alpha
    other than 1.0 is refused here for the other architectures, since a model file's spec may say so."""
    if arch == "mobilenet_v2":
        net = tvm.mobilenet_v2(weights=None, width_mult=alpha, num_classes=num_outputs)
    elif alpha != 1.0:
        raise FaceattrError(f"alpha: {arch} supports only alpha 1.0 (got {alpha}); use mobilenet_v2 for other widths")
    else:
        net = getattr(tvm, arch)(weights=None, num_classes=num_outputs)
    return attach_head(net, arch, head, num_outputs)


def load_pretrained(model: nn.Module, path: str | Path) -> list[str]:
    """Start from a torchvision-format weights file (e.g. ImageNet weights the user downloaded).

    Nothing is downloaded here. Tensors whose shape differs from the model's (the classifier head, sized
    for another number of classes), and the classifier of a model with another head, are left at their
    random initialisation; their names are returned. Anything else that does not fit is an error naming
    the file.
    """
    from faceattr.model.heads import backbone_of

    path = Path(path)
    if not path.is_file():
        raise FaceattrError(
            f"model.pretrained: {path} not found. This pipeline never downloads weights: fetch a torchvision "
            f"weights file (e.g. mobilenet_v2-7ebf99e0.pth) on a machine with internet, copy it here, and "
            f"set model.pretrained to its path, or set model.pretrained to '' to train from scratch"
        )
    state = load_weights_file(path, "model.pretrained")
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise FaceattrError(f"model.pretrained: {path} is not a state_dict (a mapping of names to tensors)")
    model = backbone_of(model)  # the torchvision model, whose names the file uses
    own = model.state_dict()
    classifier = ("fc.", "classifier.")  # torchvision's names for the head: absent or reshaped under other heads
    unknown = [k for k in state if k not in own and not k.startswith(classifier)]
    missing = [k for k in own if k not in state and not k.startswith(classifier)]
    if unknown or missing:
        raise FaceattrError(
            f"model.pretrained: {path} does not fit this architecture ({len(missing)} tensors missing, e.g. "
            f"{missing[:2]}; {len(unknown)} unexpected, e.g. {unknown[:2]}); check model.arch and alpha"
        )
    skipped = [k for k, v in state.items() if k not in own or v.shape != own[k].shape]
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
    payload = load_weights_file(path, "model file")
    if not isinstance(payload, dict) or payload.get("format") != MODEL_FORMAT:
        from faceattr.file_types import MODEL_EXPECTED, describe_payload

        kind, hint = describe_payload(payload)
        raise FaceattrError(
            f"model file: {path} is not a faceattr model: it is {kind}; expected {MODEL_EXPECTED}"
            f"{f' ({hint})' if hint else ''}"
        )
    spec = ModelSpec.from_dict(payload.get("spec"), source=str(path))
    model = build_model(spec.arch, len(spec.attributes), spec.alpha, spec.head)
    weights = payload.get("state_dict")
    if not isinstance(weights, dict):
        raise FaceattrError(f"{path}: the model file holds no state_dict")
    try:
        model.load_state_dict(weights)
    except (RuntimeError, TypeError, AttributeError) as exc:
        first = str(exc).strip().splitlines()
        detail = " ".join(line.strip() for line in first[:3])[:200]
        raise FaceattrError(
            f"{path}: the weights do not fit its spec ({spec.arch}, alpha {spec.alpha}, "
            f"{spec.head} head, {len(spec.attributes)} attributes): {detail}"
        ) from None
    return model.to(device).eval(), spec
