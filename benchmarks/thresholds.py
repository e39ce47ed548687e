"""Threshold tuning speed: the sorted-counts tune_thresholds against the direct O(n²) definition.

Times tune_thresholds on a CelebA-sized validation split (default 20,000 images × 40 attributes; the
target is under 5 s), then both it and tune_thresholds_bruteforce on a smaller split (the brute force
takes minutes per attribute at full size), checking that they choose the same thresholds.
Data are random: CelebA-like positive rates and float32 probabilities that follow the labels.

    nice python benchmarks/thresholds.py
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from faceattr.config.choices import THRESHOLD_OBJECTIVES
from faceattr.evaluate.metrics import tune_thresholds, tune_thresholds_bruteforce


def split(images: int, attributes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Labels (positive rates 2–80 %, as CelebA's) and float32 sigmoid probabilities of noisy logits."""
    rng = np.random.default_rng(seed)
    y = (rng.random((images, attributes)) < rng.uniform(0.02, 0.8, attributes)).astype(int)
    logits = rng.normal(0, 1.5, (images, attributes)) + np.where(y == 1, 1.5, -1.5)
    return y, (1 / (1 + np.exp(-logits))).astype(np.float32)


def seconds(fn, *args) -> tuple[float, list[float]]:
    start = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20_000)
    parser.add_argument("--attributes", type=int, default=40)
    parser.add_argument("--reference-images", type=int, default=2_000)
    parser.add_argument("--reference-attributes", type=int, default=2)
    args = parser.parse_args()

    y, prob = split(args.images, args.attributes)
    for objective in THRESHOLD_OBJECTIVES:
        took, _ = seconds(tune_thresholds, y, prob, objective)
        print(f"tune_thresholds {objective:<17} {args.images} × {args.attributes}: {took:.3f} s")

    y, prob = split(args.reference_images, args.reference_attributes, seed=1)
    for objective in THRESHOLD_OBJECTIVES:
        fast_s, fast = seconds(tune_thresholds, y, prob, objective)
        slow_s, slow = seconds(tune_thresholds_bruteforce, y, prob, objective)
        print(
            f"{objective:<17} {args.reference_images} × {args.reference_attributes}: sorted counts {fast_s:.4f} s, "
            f"brute force {slow_s:.2f} s ({slow_s / fast_s:.0f}× slower), same thresholds: {fast == slow}"
        )
        if fast != slow:
            sys.exit(1)


if __name__ == "__main__":
    main()
