"""The `faceattr explain` command: Grad-CAM heat maps (and feature maps) per image and attribute."""

from __future__ import annotations

import argparse

from faceattr.cli.arguments import (
    DEFAULT_MODEL,
    MODEL_HELP,
    THRESHOLD_HELP,
    add_input_options,
    command_parser,
    probability,
)
from faceattr.model.layers import layers_help
from faceattr.predict.inputs import Scan, iter_crops, require_inputs, warn_about_inputs

EXAMPLES = {
    "explain": """\
examples:
  faceattr explain 000001.jpg --out explained/         # every attribute
  faceattr explain photo.jpg --attribute Eyeglasses Smiling --out explained/
  faceattr explain group-photo.jpg --detect --against --feature-maps features.6 --out explained/"""
}


def add_arguments_explain(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """`faceattr explain`'s options, help and examples."""
    xp = command_parser(
        sub,
        "explain",
        EXAMPLES["explain"],
        "Grad-CAM heat maps (and feature maps): where the model looks, per attribute",
        description="One PNG per image (with --detect, per face) and attribute: the crop beside "
        "its Grad-CAM heat map, the probability and the decision in the title.",
    )
    xp.add_argument("inputs", nargs="+", help="image files, folders or zip archives")
    xp.add_argument("--model", default=DEFAULT_MODEL, help=MODEL_HELP)
    xp.add_argument("--out", required=True, help="folder to write the PNGs into")
    xp.add_argument("--attribute", nargs="+", metavar="A", help="attributes to explain (default: all of the model's)")
    xp.add_argument(
        "--against",
        action="store_true",
        help="show the evidence against each attribute (the negated logit) instead of for it",
    )
    xp.add_argument("--threshold", type=probability, default=None, help=THRESHOLD_HELP)
    xp.add_argument(
        "--feature-maps",
        metavar="LAYER",
        help=f"also write the most active feature maps of this layer; layers: {layers_help()}",
    )
    add_input_options(xp, "explain each face")
    return xp


def run_explain(args: argparse.Namespace) -> int:
    """Run `faceattr explain`; the exit code."""
    import re
    from pathlib import Path

    from faceattr.explain.gradcam import feature_maps, grad_cam, resolve_attributes
    from faceattr.explain.heatmaps import explanation_figure, feature_map_figure
    from faceattr.model.model_file import load_model
    from faceattr.track.model_card import notice_if_synthetic

    model, spec = load_model(args.model)
    notice_if_synthetic(args.model, spec)
    attributes = resolve_attributes(spec, args.attribute)
    thresholds = dict(zip(spec.attributes, spec.decision_thresholds(args.threshold)))
    if args.feature_maps:
        from faceattr.explain.gradcam import find_layer

        find_layer(model, spec.arch, args.feature_maps)  # a wrong name fails before any image is read
    out = Path(args.out)
    scan, written = Scan(), 0
    for crop in iter_crops(
        args.inputs,
        spec.image_size,
        scan,
        detect=args.detect,
        detector=args.detector,
        max_megapixels=args.max_megapixels,
    ):
        scan.names.append(crop.name)
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(crop.image_id).stem)
        stem += f"_face{crop.where['face']}" if crop.where else ""
        face = f" face {crop.where['face']}" if crop.where else ""
        for attribute in attributes:
            found = grad_cam(model, spec, crop.model_input[None], attribute, against=args.against)
            p = float(found.probability[0])
            verdict = "present" if p >= thresholds[attribute] else "absent"
            side = "evidence against" if args.against else "evidence for"
            title = (
                f"{crop.name}{face}\n{attribute}: p = {p:.3f} → {verdict} (threshold {thresholds[attribute]:.3g}); "
                f"{side}"
            )
            path = out / f"{stem}_{attribute}{'_against' if args.against else ''}.png"
            explanation_figure(crop.shown, found.heat[0], title, path)
            print(path)
            written += 1
        if args.feature_maps:
            maps = feature_maps(model, spec, crop.model_input, args.feature_maps)
            path = out / f"{stem}_features_{args.feature_maps}.png"
            feature_map_figure(maps, f"{crop.name}{face}: {args.feature_maps} ({len(maps)} most active channels)", path)
            print(path)
            written += 1
    warn_about_inputs(scan, spec.image_size)
    require_inputs(scan, args.inputs)
    return 1 if not written else 0
