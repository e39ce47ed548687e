"""The `faceattr explain` command: Grad-CAM heat maps (and feature maps) per image and attribute."""

from __future__ import annotations

import argparse
from pathlib import Path

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
    xp.add_argument(
        "--out",
        required=True,
        help="folder to write the PNGs into (created if missing); a PNG's name that is taken in it by a symlink, "
        "device or FIFO is refused",
    )
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


def output_folder(out: str) -> Path:
    """--out as a folder: refused in one line when it is - (PNGs are files) or names something not a folder."""
    from faceattr.errors import FaceattrError

    if out == "-":
        raise FaceattrError("--out -: explain writes PNG files into a folder, not to standard output; give a folder")
    folder = Path(out)
    if folder.exists() and not folder.is_dir():  # a folder, or a symlink to one, is written into
        raise FaceattrError(f"--out {out}: is not a folder; give a folder to write the PNGs into")
    return folder


class OutputNames:
    """The PNGs' paths, each a plain file name inside the output folder and none used twice in a run.

    An image's name stem (its file name's, unsafe characters as _) names its PNGs; a second image with the same
    stem (a/x.jpg and b/x.jpg) gets x-2, then x-3, in the order the inputs are read, so the names are
    deterministic. A name is checked to be one file name that stays in the folder before it is used, and
    whatever is at the path must be absent or a regular file (faceattr.atomic.refuse_special)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.stems: set[str] = set()
        self.paths: set[str] = set()

    def image_stem(self, image_id: str) -> str:
        """The stem for a new input image (every crop of one image shares it)."""
        import re

        base = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(image_id).stem) or "image"
        stem, k = base, 1
        while stem in self.stems:
            k += 1
            stem = f"{base}-{k}"
        self.stems.add(stem)
        return stem

    def path(self, name: str) -> Path:
        """`folder/name.png`, made distinct from this run's other PNGs (name-2.png…) and checked to stay inside."""
        from faceattr.atomic import refuse_special
        from faceattr.errors import FaceattrError

        chosen, k = name, 1
        while chosen in self.paths:
            k += 1
            chosen = f"{name}-{k}"
        self.paths.add(chosen)
        filename = f"{chosen}.png"
        path = self.folder / filename
        if Path(filename).name != filename or path.parent != self.folder or any(c in filename for c in "/\\\0"):
            raise FaceattrError(f"--out {self.folder}: refused to write {filename[:80]!r}, not a file name inside it")
        refuse_special(path, "--out")  # not a symlink, so it resolves inside the folder:
        if path.resolve().parent != self.folder.resolve():
            raise FaceattrError(f"--out {self.folder}: refused to write {filename[:80]!r}, not a file name inside it")
        return path


def run_explain(args: argparse.Namespace) -> int:
    """Run `faceattr explain`; the exit code."""
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
    names = OutputNames(output_folder(args.out))
    scan, written, image_stem = Scan(), 0, ""
    for crop in iter_crops(
        args.inputs,
        spec.image_size,
        scan,
        detect=args.detect,
        detector=args.detector,
        max_megapixels=args.max_megapixels,
    ):
        scan.names.append(crop.name)
        if not crop.where or crop.where["face"] == 0:  # a new input image (its faces come one after another)
            image_stem = names.image_stem(crop.image_id)
        stem = image_stem + (f"_face{crop.where['face']}" if crop.where else "")
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
            path = names.path(f"{stem}_{attribute}{'_against' if args.against else ''}")
            explanation_figure(crop.shown, found.heat[0], title, path)
            print(path)
            written += 1
        if args.feature_maps:
            maps = feature_maps(model, spec, crop.model_input, args.feature_maps)
            path = names.path(f"{stem}_features_{args.feature_maps}")
            feature_map_figure(maps, f"{crop.name}{face}: {args.feature_maps} ({len(maps)} most active channels)", path)
            print(path)
            written += 1
    warn_about_inputs(scan, spec.image_size)
    require_inputs(scan, args.inputs)
    return 1 if not written else 0
