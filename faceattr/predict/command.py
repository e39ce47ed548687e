"""The `faceattr predict` command: attribute probabilities and decisions for aligned crops, or for every face
of a photo."""

from __future__ import annotations

import argparse
import csv
import json
import sys

from faceattr.cli.arguments import (
    DEFAULT_MODEL,
    MODEL_HELP,
    THRESHOLD_HELP,
    add_input_options,
    command_parser,
    probability,
)
from faceattr.predict.answer_rows import answer_row
from faceattr.predict.inputs import require_inputs, scan_inputs, warn_about_inputs

EXAMPLES = {
    "predict": """\
examples:
  faceattr predict 000001.jpg                          # aligned CelebA-style crops: a table
  faceattr predict photos/ archive.zip --format csv > answers.csv
  faceattr predict photos/ --onnx model.onnx           # ONNX Runtime, after `faceattr export`
  faceattr predict photos/ --model models:/faceattr@champion   # the promoted version (faceattr promote)"""
}


def add_arguments_predict(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """`faceattr predict`'s options, help and examples."""
    pr = command_parser(
        sub,
        "predict",
        EXAMPLES["predict"],
        "per-image (or, with --detect, per-face) attribute probabilities and decisions",
        description="Attribute probabilities and decisions for aligned face crops (like CelebA's), "
        "or, with --detect, for every face found in ordinary photos.",
    )
    pr.add_argument("inputs", nargs="+", help="image files, folders or zip archives")
    pr.add_argument("--model", default=DEFAULT_MODEL, help=MODEL_HELP)
    pr.add_argument("--format", choices=("table", "json", "csv"), default="table")
    pr.add_argument("--threshold", type=probability, default=None, help=THRESHOLD_HELP)
    pr.add_argument("--onnx", help="run this exported ONNX model with ONNX Runtime instead of --model")
    pr.add_argument(
        "--precision",
        choices=("auto", "bf16", "fp32"),
        default="auto",
        help="auto (default): bf16 where the CPU has native bf16 (several times faster; probabilities "
        "differ from fp32 by about 0.001, rarely 0.03); fp32: full precision, as evaluate uses",
    )
    add_input_options(pr, "report one row per face with its box x,y,w,h")
    return pr


def run_predict(args: argparse.Namespace) -> int:
    """Run `faceattr predict`; the exit code."""
    import numpy as np
    import torch

    from faceattr.device import use_bf16
    from faceattr.evaluate.evaluation import predict_probabilities
    from faceattr.model.model_file import load_model
    from faceattr.track.model_card import notice_if_synthetic

    if args.onnx:
        from faceattr.model.onnx_export import OnnxPredictor

        predictor = OnnxPredictor(args.onnx)
        spec, predict = predictor.spec, predictor.probabilities
    else:
        model, spec = load_model(args.model)
        bf16 = use_bf16(torch.device("cpu"), args.precision)

        def predict(images: torch.Tensor) -> np.ndarray:
            return predict_probabilities(model, spec, images, bf16=bf16)

    notice_if_synthetic(None if args.onnx else args.model, spec)  # an ONNX file carries the spec's extra too
    scan, prob = scan_inputs(
        args.inputs,
        spec.image_size,
        predict,
        detect=args.detect,
        detector=args.detector,
        max_megapixels=args.max_megapixels,
        what="predict",
    )
    problems = scan.problems
    warn_about_inputs(scan, spec.image_size)
    require_inputs(scan, args.inputs)
    prob = prob if prob is not None else np.zeros((0, len(spec.attributes)))
    thresholds = spec.decision_thresholds(args.threshold)
    rows = [answer_row(n, w, p, spec.attributes, thresholds) for n, w, p in zip(scan.names, scan.where, prob)]
    box_cols = ["face", "box_x", "box_y", "box_w", "box_h"] if args.detect else []
    out = sys.stdout
    if args.format == "json":
        json.dump(rows, out, indent=2)
        out.write("\n")
    elif args.format == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["image", *box_cols, *[f"{a}_{s}" for a in spec.attributes for s in ("prob", "present")]])
        for r in rows:
            face = [r["face"], *r["box"]] if args.detect else []
            writer.writerow(
                [r["image"], *face, *[v for a in spec.attributes for v in (r[a]["probability"], int(r[a]["present"]))]]
            )
    else:
        for r in rows:
            present = [a for a in spec.attributes if r[a]["present"]]
            face = f" face {r['face']} (box x,y,w,h = {','.join(map(str, r['box']))})" if args.detect else ""
            print(f"{r['image']}{face}: {', '.join(present) or '(none)'}")
            for a in spec.attributes:
                print(f"    {a:<22} {r[a]['probability']:.4f}{'  ✓' if r[a]['present'] else ''}")
    return 1 if (problems or scan.faceless) and not rows else 0
