"""What `faceattr predict` and `faceattr serve` answer about an image, in one place so the two cannot drift:
whether an image looks like an aligned crop, and one answer row (the `--format json` row)."""

from __future__ import annotations

from typing import Sequence


def like_an_aligned_crop(shape: tuple[int, int], size: tuple[int, int]) -> bool:
    """Whether an image's (height, width) could be an aligned crop for a model of input `size`: an aspect
    within 25 % of the model's and not under half its size. An ordinary photo (4:3 landscape, say) is not."""
    aspect = (shape[0] / shape[1]) / (size[0] / size[1])
    return max(aspect, 1 / aspect) <= 1.25 and shape[0] >= size[0] / 2 and shape[1] >= size[1] / 2


def answer_row(
    image: str, where: dict, probabilities: Sequence[float], attributes: Sequence[str], thresholds: Sequence[float]
) -> dict:
    """One image's (or face's) answer: its name, its place ({} or face and box), and per attribute the
    probability (4 decimals) and the decision at that attribute's threshold."""
    return {
        "image": image,
        **where,
        **{
            a: {"probability": round(float(p), 4), "present": bool(p >= t)}
            for a, p, t in zip(attributes, probabilities, thresholds)
        },
    }
