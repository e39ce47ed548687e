"""Test metrics of an ensemble: the average of several runs' predicted probabilities, at threshold 0.5.

Reads the evaluate stage's `plots/predictions.csv` of each run (for a DVC experiment:
`git show <exp ref>:plots/predictions.csv > run.csv`) and prints the mean accuracy and mean balanced
accuracy of every run alone and of every combination of two or more, averaging probabilities per image.

    python benchmarks/ensemble.py seed42.csv seed1.csv seed2.csv
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np
import pandas as pd

from faceattr.evaluate.metrics import evaluate_predictions


def read_run(path: str) -> tuple[list[str], pd.DataFrame]:
    """A predictions file's attributes and its frame indexed by image id (the true labels are required)."""
    frame = pd.read_csv(path, dtype={"image_id": str}).set_index("image_id")
    attributes = [c[: -len("_prob")] for c in frame.columns if c.endswith("_prob")]
    if not attributes or any(f"{a}_true" not in frame.columns for a in attributes):
        raise SystemExit(f"{path}: not a predictions file with <attribute>_prob and <attribute>_true columns")
    return attributes, frame


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("predictions", nargs="+", help="plots/predictions.csv files of runs on the same test split")
    parser.add_argument("--threshold", type=float, default=0.5)
    args = parser.parse_args(argv)
    runs = [read_run(p) for p in args.predictions]
    attributes, first = runs[0]
    for path, (attrs, frame) in zip(args.predictions, runs):
        if attrs != attributes or set(frame.index) != set(first.index):
            raise SystemExit(f"{path}: other attributes or images than {args.predictions[0]}")
    ids = first.index
    y_true = first.loc[ids, [f"{a}_true" for a in attributes]].to_numpy(int)
    probs = [frame.loc[ids, [f"{a}_prob" for a in attributes]].to_numpy(float) for _, frame in runs]
    print("| runs | test mean accuracy | test mean balanced accuracy |\n|---|---:|---:|")
    for k in range(1, len(runs) + 1):
        for combo in itertools.combinations(range(len(runs)), k):
            prob = np.mean([probs[i] for i in combo], axis=0)
            # the majority-baseline argument only feeds baseline columns this table does not print
            m = evaluate_predictions(
                attributes, y_true, prob, [args.threshold] * len(attributes), np.zeros(len(attributes), dtype=np.uint8)
            )
            names = " + ".join(Path(args.predictions[i]).stem for i in combo)
            print(f"| {names} | {m['mean_accuracy']:.4f} | {m['mean_balanced_accuracy']:.4f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
