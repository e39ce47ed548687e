"""Knowledge distillation: soft targets for the training images from already-trained teacher models.

A few networks trained on the same split disagree where CelebA's labels are doubtful; their averaged
probability says how sure a label is, which a 0/1 label cannot. Training one network towards a mix of
the labels and those probabilities (Hinton et al. 2015; "born-again" networks, Furlanello et al. 2018)
carries part of an ensemble's accuracy into a single model of the same size and cost.

The targets are computed once, before training, on the un-augmented training images (each averaged
with its mirror image), so distillation adds a few teacher passes over the split, not a teacher pass
per training step.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Sequence

import torch

from faceattr.data.pixels import Images
from faceattr.digest import file_sha256
from faceattr.errors import FaceattrError
from faceattr.evaluate.inference import predict_logits
from faceattr.model.model_file import load_model


def resolve_teacher(path: str | Path) -> Path:
    """A teacher's file: absolute, or relative to the working directory, else to the repository root
    (DVC_ROOT: `dvc exp run --temp` works in a copy that holds no untracked files)."""
    from faceattr.track.mlflow_runs import repo_root

    given = Path(path)
    resolved = given if given.is_absolute() or given.is_file() else repo_root() / given
    if not resolved.is_file():
        raise FaceattrError(
            f"train.teachers: {path} not found (a model file written by the train stage, "
            f"e.g. by an earlier experiment; absolute, or relative to the repository)"
        )
    return resolved


def teachers_digest(paths: Sequence[str | Path]) -> str:
    """SHA-256 over the teachers' files, so a run (and its checkpoints) is tied to their exact weights."""
    h = hashlib.sha256()
    for path in paths:
        h.update(file_sha256(resolve_teacher(path)).encode())
    return h.hexdigest()


def soft_targets(
    paths: Sequence[str | Path],
    images: Images,
    attributes: Sequence[str],
    image_size: Sequence[int],
    device: torch.device,
    bf16: bool = False,
) -> torch.Tensor:
    """The teachers' mean probability per image and attribute (float N×A on the CPU), flip-averaged.

    Every teacher must predict exactly `attributes`, in that order, at `image_size` (the images are
    cached at the student's size), or the error names the teacher and what differs.
    """
    if not paths:
        raise FaceattrError("train.teachers: empty; list at least one model file to distil from")
    total = torch.zeros(len(images), len(attributes))
    for path in paths:
        model, spec = load_model(resolve_teacher(path), device)
        if list(spec.attributes) != list(attributes):
            raise FaceattrError(
                f"train.teachers: {path} predicts {', '.join(spec.attributes)}; the training data "
                f"has {', '.join(attributes)} (teachers must be trained on the same attributes)"
            )
        if tuple(spec.image_size) != tuple(image_size):
            raise FaceattrError(
                f"train.teachers: {path} takes {spec.image_size[0]}×{spec.image_size[1]} images but "
                f"train.image_size is {image_size[0]}×{image_size[1]}; distil from teachers "
                f"trained at the student's input size"
            )
        logits = predict_logits(model, images, spec, device, bf16=bf16, tta_hflip=True)
        total += torch.sigmoid(logits)
        del model
    return total / len(paths)


def mix_targets(labels: torch.Tensor, other: torch.Tensor | float, weight: float) -> torch.Tensor:
    """(1 - weight) · labels + weight · other: teacher probabilities for distillation, 1/2 for label
    smoothing; the labels themselves at weight 0."""
    if weight == 0:
        return labels
    return labels * (1 - weight) + other * weight
