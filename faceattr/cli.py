"""The `faceattr` command: use a trained model outside the pipeline, with the pipeline's own library.

    faceattr evaluate --model models/model.pt --images <zip|folder> --labels <attribute file> [...]
    faceattr predict <image|folder|zip> ... --model models/model.pt [--format table|json|csv] [--onnx F] [--detect]
    faceattr explain <image|folder|zip> ... --out DIR [--attribute A ...] [--against] [--detect] [--feature-maps LAYER]
    faceattr export --model models/model.pt --onnx model.onnx
    faceattr serve [--model models/model.pt] [--host 127.0.0.1] [--port 8000] [--max-upload-mb 10] [...]
    faceattr info [models/model.pt] [--format text|json] [--no-mlflow]
    faceattr promote <run id | DVC experiment name> [--alias champion]
    faceattr recipe recipes/<name>.yaml --data-dir <CelebA folder> [-S key=value ...] [--print]
    faceattr grid [-S key=value ...] [-j N]

--model (and info's model) also takes models:/faceattr@champion or models:/faceattr/<version>: a version of
the registered model every training adds to the MLflow store (faceattr/registry.py).

Exit codes: 0 success (some inputs skipped with a warning is still success when one was answered),
1 nothing answered, 2 a usage or input error (EXIT_CODES).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterator, Sequence

from faceattr import __version__
from faceattr.answers import answer_row, like_an_aligned_crop
from faceattr.errors import FaceattrError
from faceattr.layers import layers_help
from faceattr.limits import MAX_MEGAPIXELS

if TYPE_CHECKING:  # torch, numpy and the rest load when a command runs, so --help and --version are instant
    import numpy as np
    import torch

    from faceattr.sources import ImageItem

DEFAULT_MODEL = "models/model.pt"
MODEL_HELP = ("model file, or a registered version: models:/faceattr@champion, models:/faceattr/<version> "
              "(default: %(default)s)")


@dataclass
class Scan:
    """What the inputs held: per image (or, with --detect, per face) its name, id, place and probabilities,
    plus the files that could not be read and the photos in which no face was found."""

    names: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    where: list[dict] = field(default_factory=list)
    probabilities: list[np.ndarray] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)
    faceless: list[str] = field(default_factory=list)
    unaligned: list[str] = field(default_factory=list)  # without --detect: images unlike an aligned face crop


@dataclass
class Crop:
    """One thing to predict on: an image (or, with --detect, one face of it) as found and as the model sees it."""

    name: str
    image_id: str
    where: dict           # {} or, with --detect, {"face": k, "box": [x, y, w, h]}
    shown: torch.Tensor   # uint8 3×H×W: the image, or the face's aligned 178×218 crop
    model_input: torch.Tensor  # the same at the model's input size


def _iter_crops(inputs: Sequence[str], size: tuple[int, int], scan: Scan, wanted: set[str] | None = None,
                detect: bool = False, detector: str | None = None, max_megapixels: float = MAX_MEGAPIXELS,
                what: str | None = None) -> Iterator[Crop]:
    """Decode the inputs one at a time (with `detect`, find and align their faces). Unreadable files,
    photos without a face and images unlike an aligned crop are noted in `scan` and, the first two, skipped.
    With `what` (the command's name), a run over many images reports its progress on stderr
    (faceattr.progress), counted per input image; explain leaves it out, as it prints a line per PNG."""
    from faceattr.progress import Progress
    from faceattr.sources import count_images, iter_images

    progress = Progress(count_images(inputs, wanted), what) if what else None
    try:
        for item in iter_images(inputs):
            if wanted is not None and item.image_id not in wanted:
                continue
            yield from _crops_of(item, size, scan, detect, detector, max_megapixels)
            if progress:
                progress.update()
    finally:
        if progress:
            progress.close()


def _crops_of(item: ImageItem, size: tuple[int, int], scan: Scan, detect: bool, detector: str | None,
              max_megapixels: float) -> Iterator[Crop]:
    """The crops of one input image: none when it does not decode or, with `detect`, holds no face."""
    from faceattr.detect import DEFAULT_DETECTOR, detect_faces
    from faceattr.images import decode_rgb, resize_to

    if item.problem:
        scan.problems.append((item.name, item.problem))
        return
    try:  # a file that does not decode is skipped; anything else (no OpenCV, say) stops the command
        image = decode_rgb(item.data, item.name, upright=detect, max_megapixels=max_megapixels)
    except FaceattrError as exc:
        scan.problems.append((item.name, str(exc).split(": ", 1)[-1]))
        return
    if detect:
        faces = detect_faces(image, detector or DEFAULT_DETECTOR)
        if not faces:
            scan.faceless.append(item.name)
        for k, face in enumerate(faces):
            yield Crop(item.name, item.image_id, {"face": k, "box": list(face.box)}, face.crop,
                       resize_to(face.crop, size))
    else:
        if not like_an_aligned_crop(tuple(image.shape[1:]), size):
            scan.unaligned.append(f"{item.name} ({image.shape[2]}×{image.shape[1]})")
        yield Crop(item.name, item.image_id, {}, image, resize_to(image, size))


def _scan(inputs: Sequence[str], size: tuple[int, int], predict: Callable[[torch.Tensor], np.ndarray],
          wanted: set[str] | None = None, detect: bool = False, detector: str | None = None, batch: int = 256,
          max_megapixels: float = MAX_MEGAPIXELS, what: str | None = None) -> tuple[Scan, np.ndarray]:
    """Predict on every crop a batch at a time, so memory does not grow with the number of images."""
    import numpy as np
    import torch

    scan, pending = Scan(), []

    def flush() -> None:
        if pending:
            scan.probabilities.append(predict(torch.stack(pending)))
            pending.clear()

    for crop in _iter_crops(inputs, size, scan, wanted, detect, detector, max_megapixels, what):
        scan.names.append(crop.name)
        scan.ids.append(crop.image_id)
        scan.where.append(crop.where)
        pending.append(crop.model_input)
        if len(pending) == batch:
            flush()
    flush()
    return scan, (np.concatenate(scan.probabilities) if scan.probabilities else None)


def _warn_about_inputs(scan: Scan, size: tuple[int, int]) -> None:
    """The warnings `predict` and `explain` share: skipped files, photos without faces, unaligned images."""
    _report_problems(scan.problems)
    for name in scan.faceless:
        print(f"warning: {name}: no face found", file=sys.stderr)
    if scan.unaligned:
        shown = ", ".join(scan.unaligned[:3]) + (f" and {len(scan.unaligned) - 3} more" if len(scan.unaligned) > 3 else "")
        print(f"warning: {shown}: not shaped like an aligned face crop ({size[1]}×{size[0]} or "
              f"larger, like CelebA's); answers on ordinary photos mean little: use --detect to find and align "
              f"the faces", file=sys.stderr)


def _report_problems(problems: list[tuple[str, str]]) -> None:
    for name, reason in problems:
        print(f"warning: {name}: skipped ({reason})", file=sys.stderr)


THRESHOLD_HELP = ("one decision threshold in (0, 1) for every attribute (default: the model's own, chosen on the "
                  "validation split when the pipeline ran with evaluate.tune_thresholds; else 0.5)")


def cmd_evaluate(args: argparse.Namespace) -> int:
    import numpy as np

    from faceattr.atomic import write_json
    from faceattr.evaluation import evaluate, predict_probabilities
    from faceattr.labels import parse_attribute_file
    from faceattr.metrics import majority_labels
    from faceattr.models import load_model
    from faceattr.partition import read_id_table

    model, spec = load_model(args.model)
    table, parsed = parse_attribute_file(args.labels)
    attributes = [a for a in spec.attributes if a in table.names]
    if not attributes:
        raise FaceattrError(f"{args.labels}: has none of the model's attributes ({' '.join(spec.attributes)})")
    skipped_attrs = [a for a in spec.attributes if a not in table.names]
    if skipped_attrs:
        print(f"note: {args.labels} lacks {', '.join(skipped_attrs)}; evaluating the other {len(attributes)}",
              file=sys.stderr)
    labels = dict(zip(table.ids, table.values[:, [table.names.index(a) for a in attributes]]))
    wanted = set(labels)
    majority_source = np.stack(list(labels.values()))
    if args.partition:
        partition = read_id_table(args.partition, "partition")
        wanted = {i for i, s in partition.items() if s == args.split and i in labels}
        train_ids = [i for i, s in partition.items() if s == 0 and i in labels]
        if train_ids:
            majority_source = np.stack([labels[i] for i in train_ids])
    cols = [spec.attributes.index(a) for a in attributes]
    scan, prob = _scan(args.images, spec.image_size,
                       lambda images: predict_probabilities(model, spec, images, tta_hflip=args.tta)[:, cols], wanted,
                       what="evaluate")
    problems = scan.problems
    _report_problems(problems)
    missing = len(wanted) - len(scan.ids) - len(problems)
    if missing:
        print(f"warning: {missing} labelled image(s) not found in {', '.join(args.images)}; skipped", file=sys.stderr)
    if not scan.ids:
        if problems:  # labelled images were there but none could be read: nothing answered
            print(f"faceattr: error: none of the {len(problems)} labelled image(s) found could be read",
                  file=sys.stderr)
            return 1
        raise FaceattrError("no labelled images to evaluate")
    y_true = np.stack([labels[i] for i in scan.ids]).astype(int)
    thresholds = spec.decision_thresholds(args.threshold)
    result = evaluate(attributes, y_true, prob, majority_labels(majority_source), [thresholds[c] for c in cols])
    metrics = {**result.metrics, "images_skipped": len(problems), "images_missing": missing}
    print(f"{'attribute':<22}{'accuracy':>9}{'balanced':>10}{'f1':>8}{'roc_auc':>9}{'baseline':>10}")
    for name, m in metrics["per_attribute"].items():
        auc = f"{m['roc_auc']:.4f}" if "roc_auc" in m else "n/a"
        print(f"{name:<22}{m['accuracy']:>9.4f}{m['balanced_accuracy']:>10.4f}{m['f1']:>8.4f}{auc:>9}"
              f"{m['baseline_accuracy']:>10.4f}")
    print(f"{'mean':<22}{metrics['mean_accuracy']:>9.4f}{metrics['mean_balanced_accuracy']:>10.4f}"
          f"{metrics['mean_f1']:>8.4f}{metrics.get('mean_roc_auc', float('nan')):>9.4f}"
          f"{metrics['baseline_mean_accuracy']:>10.4f}   ({metrics['images']} images)")
    if args.out:
        write_json(args.out, metrics)
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from faceattr.device import use_bf16
    from faceattr.evaluation import predict_probabilities
    from faceattr.model_card import notice_if_synthetic
    from faceattr.models import load_model

    if args.onnx:
        from faceattr.onnx_export import OnnxPredictor

        predictor = OnnxPredictor(args.onnx)
        spec, predict = predictor.spec, predictor.probabilities
    else:
        model, spec = load_model(args.model)
        bf16 = use_bf16(torch.device("cpu"), args.precision)

        def predict(images: torch.Tensor) -> np.ndarray:
            return predict_probabilities(model, spec, images, bf16=bf16)
    notice_if_synthetic(None if args.onnx else args.model, spec)  # an ONNX file carries the spec's extra too
    scan, prob = _scan(args.inputs, spec.image_size, predict, detect=args.detect, detector=args.detector,
                       max_megapixels=args.max_megapixels, what="predict")
    problems = scan.problems
    _warn_about_inputs(scan, spec.image_size)
    _require_inputs(scan, args.inputs)
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
            writer.writerow([r["image"], *face, *[v for a in spec.attributes
                                                  for v in (r[a]["probability"], int(r[a]["present"]))]])
    else:
        for r in rows:
            present = [a for a in spec.attributes if r[a]["present"]]
            face = f" face {r['face']} (box x,y,w,h = {','.join(map(str, r['box']))})" if args.detect else ""
            print(f"{r['image']}{face}: {', '.join(present) or '(none)'}")
            for a in spec.attributes:
                print(f"    {a:<22} {r[a]['probability']:.4f}{'  ✓' if r[a]['present'] else ''}")
    return 1 if (problems or scan.faceless) and not rows else 0


def _require_inputs(scan: Scan, inputs: Sequence[str]) -> None:
    """An error when the inputs held nothing at all: no image, no unreadable file, no faceless photo."""
    from faceattr.sources import IMAGE_SUFFIXES

    if not scan.names and not scan.problems and not scan.faceless:
        raise FaceattrError(f"no images found in {', '.join(inputs)} (looked for "
                            f"{', '.join(IMAGE_SUFFIXES)} files, folders and zip archives)")


def cmd_explain(args: argparse.Namespace) -> int:
    import re
    from pathlib import Path

    from faceattr.explain import feature_maps, grad_cam, resolve_attributes
    from faceattr.heatmaps import explanation_figure, feature_map_figure
    from faceattr.model_card import notice_if_synthetic
    from faceattr.models import load_model

    model, spec = load_model(args.model)
    notice_if_synthetic(args.model, spec)
    attributes = resolve_attributes(spec, args.attribute)
    thresholds = dict(zip(spec.attributes, spec.decision_thresholds(args.threshold)))
    if args.feature_maps:
        from faceattr.explain import find_layer

        find_layer(model, spec.arch, args.feature_maps)  # a wrong name fails before any image is read
    out = Path(args.out)
    scan, written = Scan(), 0
    for crop in _iter_crops(args.inputs, spec.image_size, scan, detect=args.detect, detector=args.detector,
                            max_megapixels=args.max_megapixels):
        scan.names.append(crop.name)
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(crop.image_id).stem)
        stem += f"_face{crop.where['face']}" if crop.where else ""
        face = f" face {crop.where['face']}" if crop.where else ""
        for attribute in attributes:
            found = grad_cam(model, spec, crop.model_input[None], attribute, against=args.against)
            p = float(found.probability[0])
            verdict = "present" if p >= thresholds[attribute] else "absent"
            side = "evidence against" if args.against else "evidence for"
            title = (f"{crop.name}{face}\n{attribute}: p = {p:.3f} → {verdict} (threshold {thresholds[attribute]:.3g}); "
                     f"{side}")
            path = out / f"{stem}_{attribute}{'_against' if args.against else ''}.png"
            explanation_figure(crop.shown, found.heat[0], title, path)
            print(path)
            written += 1
        if args.feature_maps:
            maps = feature_maps(model, spec, crop.model_input, args.feature_maps)
            path = out / f"{stem}_features_{args.feature_maps}.png"
            feature_map_figure(maps, f"{crop.name}{face}: {args.feature_maps} "
                                     f"({len(maps)} most active channels)", path)
            print(path)
            written += 1
    _warn_about_inputs(scan, spec.image_size)
    _require_inputs(scan, args.inputs)
    return 1 if not written else 0


def cmd_info(args: argparse.Namespace) -> int:
    from faceattr.model_card import card, render

    info = card(args.model, mlflow=not args.no_mlflow)
    if args.format == "json":
        json.dump(info, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(render(info))
    return 0


def cmd_promote(args: argparse.Namespace) -> int:
    from faceattr.registry import promote

    version, before, metrics = promote(args.ref, args.alias)
    shown = ", ".join(f"{k} {metrics[k]:.4f}" for k in ("mean_accuracy", "mean_balanced_accuracy", "mean_f1")
                      if k in metrics)
    print(f"models:/{version.name}@{args.alias} is now {version.uri} (run {version.run_id}"
          f"{'; test ' + shown if shown else '; its run has no test metrics yet: the evaluate stage logs them'})")
    print(f"before: {before.uri if before else 'no version had @' + args.alias}")
    return 0


def cmd_recipe(args: argparse.Namespace) -> int:
    from faceattr.recipe import run

    return run(args)


def cmd_grid(args: argparse.Namespace) -> int:
    from faceattr.grid import run

    return run(args)


def cmd_export(args: argparse.Namespace) -> int:
    from faceattr.onnx_export import MAX_ABS_DIFF, export_onnx

    diff = export_onnx(args.model, args.onnx)
    print(f"wrote {args.onnx}: max |ONNX - PyTorch| = {diff:.2e} on random inputs (limit {MAX_ABS_DIFF:g})")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import torch

    from faceattr.model_card import notice_if_synthetic
    from faceattr.serve import serve
    from faceattr.service import Service

    if args.threads:
        torch.set_num_threads(args.threads)
    service = Service(args.model, threshold=args.threshold, precision=args.precision, detector=args.detector,
                      max_megapixels=args.max_megapixels)
    where = f"[{args.host}]" if ":" in args.host else args.host
    print(f"faceattr serve: {args.model} ({service.spec.arch}, {len(service.spec.attributes)} attributes) "
          f"at http://{where}:{args.port}/", file=sys.stderr)
    notice_if_synthetic(args.model, service.spec)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: --host {args.host}: anyone who can reach this address can upload photos", file=sys.stderr)
    serve(service, args.host, args.port, args.max_upload_mb)
    return 0


def _port(text: str) -> int:
    """An argparse type: a TCP port, 0 (any free port) to 65535."""
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"expected a port number from 0 to 65535, got {text!r}")
    return int(text)


def _count(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return int(text)


def _number(above: float, below: float | None, meaning: str) -> Callable[[str], float]:
    """An argparse type: a number strictly between `above` and `below` (NaN and text are refused)."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not (above < value < (below if below is not None else float("inf"))):
            raise argparse.ArgumentTypeError(f"expected {meaning}, got {text!r}")
        return value
    return parse


_probability = _number(0, 1, "a number between 0 and 1 (exclusive)")
_positive = _number(0, None, "a positive number")


def _add_input_options(parser: argparse.ArgumentParser, per_face: str) -> None:
    """The options `predict` and `explain` share: finding faces in photos, and the size limit."""
    parser.add_argument("--detect", action="store_true",
                        help=f"find the faces in each photo, align each as CelebA's crops and {per_face}")
    parser.add_argument("--detector", choices=("mtcnn", "haar"), default=None,
                        help="with --detect: mtcnn (five landmarks: eyes, nose tip, mouth corners, mapped onto "
                             "CelebA's mean landmarks; weights from the facenet-pytorch package) or haar (OpenCV's "
                             "Haar cascade, aligned on the eyes when found: frontal, upright faces only); "
                             "default: mtcnn (faceattr.detect.DEFAULT_DETECTOR)")
    parser.add_argument("--max-megapixels", type=_positive, default=MAX_MEGAPIXELS, metavar="MP",
                        help="skip images larger than this, judged from their header before decoding "
                             "(default: %(default)g; a decompression bomb costs gigabytes)")


EXIT_CODES = """\
exit codes:
  0  success, also when some inputs were skipped with a warning (unreadable, no face found)
     but at least one image or face was answered
  1  nothing answered: every input was unreadable, or no face was found in any photo
  2  a usage or input error: a bad argument, a missing or unreadable model file, an empty
     folder, a label file without the model's attributes (one line on stderr)"""

EXAMPLES = {
    "top": """\
examples:
  faceattr info                                        # what models/model.pt is and was trained on
  faceattr predict group-photo.jpg --detect            # find, align and answer every face
  faceattr serve --port 8000                           # a web page on http://127.0.0.1:8000/
  faceattr promote a0p25-s3000                         # that experiment's model becomes models:/faceattr@champion

Run `faceattr COMMAND --help` for a command's options and examples.""",
    "evaluate": """\
examples:
  faceattr evaluate --images data/interim/img_align_celeba --labels list_attr_celeba.txt
  faceattr evaluate --images img_align_celeba.zip --labels list_attr_celeba.txt \\
      --partition list_eval_partition.txt --split 2 --out /tmp/test-metrics.json
  faceattr evaluate --model other/model.pt --images crops/ --labels labels.csv --tta --threshold 0.5""",
    "predict": """\
examples:
  faceattr predict 000001.jpg                          # aligned CelebA-style crops: a table
  faceattr predict photos/ archive.zip --format csv > answers.csv
  faceattr predict photos/ --onnx model.onnx           # ONNX Runtime, after `faceattr export`
  faceattr predict photos/ --model models:/faceattr@champion   # the promoted version (faceattr promote)""",
    "explain": """\
examples:
  faceattr explain 000001.jpg --out explained/         # every attribute
  faceattr explain photo.jpg --attribute Eyeglasses Smiling --out explained/
  faceattr explain group-photo.jpg --detect --against --feature-maps features.6 --out explained/""",
    "export": """\
examples:
  faceattr export --onnx model.onnx                    # models/model.pt, checked against PyTorch
  faceattr export --model other/model.pt --onnx /tmp/other.onnx""",
    "serve": """\
examples:
  faceattr serve                                       # http://127.0.0.1:8000/, this machine only
  faceattr serve --model other/model.pt --port 9000 --threads 2
  faceattr serve --host 0.0.0.0 --max-upload-mb 5      # open to the network""",
    "info": """\
examples:
  faceattr info                                        # models/model.pt
  faceattr info other/model.pt --format json
  faceattr info --no-mlflow                            # skip the MLflow lookup (seconds to import)
  faceattr info models:/faceattr@champion              # the promoted version""",
    "recipe": """\
examples:
  faceattr recipe recipes/celeba-seed-halfres.yaml --data-dir ../shared/celeba
  faceattr recipe recipes/celeba-40-identity.yaml --data-dir ../shared/celeba -S alpha=0.5 -n wide
  faceattr recipe recipes/celeba-40-identity-imagenet.yaml --data-dir ../shared/celeba --print""",
    "grid": """\
examples:
  faceattr grid                                        # 5 experiments, one at a time; metrics/grid.md
  faceattr grid -S train.epochs=30 -j 2""",
    "promote": """\
examples:
  faceattr promote a0p25-s3000                         # a DVC experiment's training (dvc exp show names them)
  faceattr promote 3f2c1e0b9a8d4c7e8f6a5b4c3d2e1f0a    # an MLflow run id
  faceattr promote a0p25-s3000 --alias challenger
  faceattr predict photos/ --model models:/faceattr@champion   # then use it""",
}


def _command(sub: argparse._SubParsersAction, name: str, help: str, description: str | None = None) -> argparse.ArgumentParser:
    """A subcommand whose --help ends with its examples and the exit codes, line breaks kept (the raw
    formatter keeps the description's too, so it is wrapped here)."""
    import textwrap

    description = textwrap.fill(description or help[:1].upper() + help[1:] + ".", width=100)
    return sub.add_parser(name, help=help, description=description,
                          epilog=f"{EXAMPLES[name]}\n\n{EXIT_CODES}",
                          formatter_class=argparse.RawDescriptionHelpFormatter)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="faceattr", description="Facial-attribute models trained by the faceattr pipeline.",
                                     epilog=f"{EXAMPLES['top']}\n\n{EXIT_CODES}",
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"faceattr {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    ev = _command(sub, "evaluate", "metrics of a model on any labelled CelebA-format dataset")
    ev.add_argument("--model", default=DEFAULT_MODEL, help=MODEL_HELP)
    ev.add_argument("--images", nargs="+", required=True, help="zip archive(s) or folder(s) of images")
    ev.add_argument("--labels", required=True, help="attribute file: official .txt, Kaggle .csv or Filename-header 0/1")
    ev.add_argument("--partition", help="a partition file (NNNNNN.jpg 0|1|2) to evaluate one split of")
    ev.add_argument("--split", type=int, choices=(0, 1, 2), default=2, help="with --partition: 0 train, 1 val, 2 test (default)")
    ev.add_argument("--threshold", type=_probability, default=None, help=THRESHOLD_HELP)
    ev.add_argument("--tta", action="store_true",
                    help="average each image's probabilities with its mirror image's (the pipeline's evaluate.tta_hflip)")
    ev.add_argument("--out", help="write the metrics JSON here")
    ev.set_defaults(func=cmd_evaluate)

    pr = _command(sub, "predict", "per-image (or, with --detect, per-face) attribute probabilities and decisions",
                        description="Attribute probabilities and decisions for aligned face crops (like CelebA's), "
                                    "or, with --detect, for every face found in ordinary photos.")
    pr.add_argument("inputs", nargs="+", help="image files, folders or zip archives")
    pr.add_argument("--model", default=DEFAULT_MODEL, help=MODEL_HELP)
    pr.add_argument("--format", choices=("table", "json", "csv"), default="table")
    pr.add_argument("--threshold", type=_probability, default=None, help=THRESHOLD_HELP)
    pr.add_argument("--onnx", help="run this exported ONNX model with ONNX Runtime instead of --model")
    pr.add_argument("--precision", choices=("auto", "bf16", "fp32"), default="auto",
                    help="auto (default): bf16 where the CPU has native bf16 (several times faster; probabilities "
                         "differ from fp32 by about 0.001, rarely 0.03); fp32: full precision, as evaluate uses")
    _add_input_options(pr, "report one row per face with its box x,y,w,h")
    pr.set_defaults(func=cmd_predict)

    xp = _command(sub, "explain", "Grad-CAM heat maps (and feature maps): where the model looks, per attribute",
                        description="One PNG per image (with --detect, per face) and attribute: the crop beside "
                                    "its Grad-CAM heat map, the probability and the decision in the title.")
    xp.add_argument("inputs", nargs="+", help="image files, folders or zip archives")
    xp.add_argument("--model", default=DEFAULT_MODEL, help=MODEL_HELP)
    xp.add_argument("--out", required=True, help="folder to write the PNGs into")
    xp.add_argument("--attribute", nargs="+", metavar="A", help="attributes to explain (default: all of the model's)")
    xp.add_argument("--against", action="store_true",
                    help="show the evidence against each attribute (the negated logit) instead of for it")
    xp.add_argument("--threshold", type=_probability, default=None, help=THRESHOLD_HELP)
    xp.add_argument("--feature-maps", metavar="LAYER",
                    help=f"also write the most active feature maps of this layer; layers: {layers_help()}")
    _add_input_options(xp, "explain each face")
    xp.set_defaults(func=cmd_explain)

    ex = _command(sub, "export", "export to ONNX, checked against PyTorch")
    ex.add_argument("--model", default=DEFAULT_MODEL, help=MODEL_HELP)
    ex.add_argument("--onnx", required=True, help="where to write the .onnx file")
    ex.set_defaults(func=cmd_export)

    sv = _command(sub, "serve", "a web page and JSON API: upload a photo, see each face's attributes and heat maps",
                        description="A web page where a person drops a photo and sees a box per face, each face's "
                                    "aligned crop, every attribute's probability against the threshold and the heat "
                                    "map of the attribute clicked; beside it a JSON API (/api/predict, /api/explain, "
                                    "/api/model, /healthz). Listens on loopback unless --host says otherwise.")
    sv.add_argument("--model", default=DEFAULT_MODEL, help=MODEL_HELP)
    sv.add_argument("--host", default="127.0.0.1",
                    help="address to listen on (default: %(default)s, this machine only; 0.0.0.0 opens it to the network)")
    sv.add_argument("--port", type=_port, default=8000, help="TCP port (default: %(default)s)")
    sv.add_argument("--max-upload-mb", type=_positive, default=10.0, metavar="MB",
                    help="refuse request bodies larger than this with 413 (default: %(default)g)")
    sv.add_argument("--threshold", type=_probability, default=None, help=THRESHOLD_HELP)
    sv.add_argument("--precision", choices=("auto", "bf16", "fp32"), default="auto",
                    help="as for predict: auto (default) uses bf16 where the CPU has native bf16")
    sv.add_argument("--detector", choices=("mtcnn", "haar"), default=None,
                    help="face detector for photos (default: faceattr.detect.DEFAULT_DETECTOR)")
    sv.add_argument("--max-megapixels", type=_positive, default=MAX_MEGAPIXELS, metavar="MP",
                    help="refuse images larger than this, judged from their header (default: %(default)g)")
    sv.add_argument("--threads", type=_count, default=1,
                    help="PyTorch's threads inside one operation (default: %(default)s: requests already run side by "
                         "side, and on a 2-core CPU one thread answered faster than one per core, with or without "
                         "concurrent clients: benchmarks/README.md)")
    sv.set_defaults(func=cmd_serve)

    nf = _command(sub, "info", "the model card: architecture, attributes, thresholds, what it was trained on",
                  description="The model card of a model file: architecture, head, parameter count, input size and "
                              "normalisation, attributes, decision thresholds (and whether tuned), size and SHA-256; "
                              "and what it was trained on: from the file when it records it, else, for the "
                              "pipeline's own model, from dvc.lock (when it records this very file) and the metrics "
                              "files it records beside it; and the MLflow run tagged with the file's hash.")
    nf.add_argument("model", nargs="?", default=DEFAULT_MODEL, help=MODEL_HELP)
    nf.add_argument("--format", choices=("text", "json"), default="text")
    nf.add_argument("--no-mlflow", action="store_true",
                    help="skip the MLflow lookup (it reads ./mlflow.db or MLFLOW_TRACKING_URI; importing MLflow "
                         "takes seconds)")
    nf.set_defaults(func=cmd_info)

    pm = _command(sub, "promote", "make a training's registered model version the champion (models:/faceattr@champion)",
                  description="Every training registers its model as a version of the MLflow registered model "
                              "faceattr. This points the alias (champion unless --alias says otherwise) at the "
                              "version that one training registered, found by its MLflow run id or by its DVC "
                              "experiment name (an experiment name used twice: its newest run). Reads ./mlflow.db "
                              "or MLFLOW_TRACKING_URI.")
    pm.add_argument("ref", help="MLflow run id or DVC experiment name (dvc exp show lists them)")
    pm.add_argument("--alias", default="champion", type=_alias, help="alias to set (default: %(default)s)")
    pm.set_defaults(func=cmd_promote)

    from faceattr import grid, recipe  # light modules: argparse, yaml

    rc = _command(sub, "recipe", "run a named recipe (recipes/*.yaml: params overrides) as one DVC experiment",
                  description="Run a recipe, a named set of params.yaml overrides in recipes/*.yaml, as one "
                              "`dvc exp run --temp` experiment (and MLflow run) named after it. DVC runs from this "
                              "faceattr's own Python environment. Exit status: DVC's.")
    recipe.add_arguments(rc)
    rc.set_defaults(func=cmd_recipe)

    gd = _command(sub, "grid", "the published project's grid (alpha × subset) as queued DVC experiments, tabulated",
                  description="Queue alpha 0.25/0.5/1.0 on subset 1000 and subsets 1000/2000/3000 at alpha 1.0 as "
                              "DVC experiments, run them, and write their test metrics to metrics/grid.md. "
                              "Exit status 1 when a point failed.")
    grid.add_arguments(gd)
    gd.set_defaults(func=cmd_grid)
    return parser


def _alias(text: str) -> str:
    """An argparse type: an MLflow alias (letters, digits, _ and -, not a version-like v<number>)."""
    import re

    if not re.fullmatch(r"[A-Za-z_][\w-]*", text) or re.fullmatch(r"[vV]\d+", text):
        raise argparse.ArgumentTypeError(f"expected an alias of letters, digits, _ and - (not v<number>), got {text!r}")
    return text


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if str(getattr(args, "model", "")).startswith("models:/"):  # a registered version: fetch its file
            from faceattr.registry import fetch

            args.model = str(fetch(args.model))
        return args.func(args)
    except FaceattrError as exc:
        print(f"faceattr: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
