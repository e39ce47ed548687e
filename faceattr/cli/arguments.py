"""The `faceattr` command's arguments: every subcommand's options, help, examples and exit codes, and the
argparse types that check them. faceattr/cli/entry.py runs the commands; this module imports nothing heavy, so
`--help` stays instant."""

from __future__ import annotations

import argparse
from typing import Callable

from faceattr import __version__
from faceattr.model.layers import layers_help
from faceattr.data.limits import MAX_MEGAPIXELS

DEFAULT_MODEL = "models/model.pt"
MODEL_HELP = (
    "model file, or a registered version: models:/faceattr@champion, models:/faceattr/<version> (default: %(default)s)"
)

THRESHOLD_HELP = (
    "one decision threshold in (0, 1) for every attribute (default: the model's own, chosen on the "
    "validation split when the pipeline ran with evaluate.tune_thresholds; else 0.5)"
)


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
    parser.add_argument(
        "--detect",
        action="store_true",
        help=f"find the faces in each photo, align each as CelebA's crops and {per_face}",
    )
    parser.add_argument(
        "--detector",
        choices=("mtcnn", "haar"),
        default=None,
        help="with --detect: mtcnn (five landmarks: eyes, nose tip, mouth corners, mapped onto "
        "CelebA's mean landmarks; weights from the facenet-pytorch package) or haar (OpenCV's "
        "Haar cascade, aligned on the eyes when found: frontal, upright faces only); "
        "default: mtcnn (faceattr.predict.detect.DEFAULT_DETECTOR)",
    )
    parser.add_argument(
        "--max-megapixels",
        type=_positive,
        default=MAX_MEGAPIXELS,
        metavar="MP",
        help="skip images larger than this, judged from their header before decoding "
        "(default: %(default)g; a decompression bomb costs gigabytes)",
    )


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


def _command(
    sub: argparse._SubParsersAction, name: str, help: str, description: str | None = None
) -> argparse.ArgumentParser:
    """A subcommand whose --help ends with its examples and the exit codes, line breaks kept (the raw
    formatter keeps the description's too, so it is wrapped here)."""
    import textwrap

    description = textwrap.fill(description or help[:1].upper() + help[1:] + ".", width=100)
    return sub.add_parser(
        name,
        help=help,
        description=description,
        epilog=f"{EXAMPLES[name]}\n\n{EXIT_CODES}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def _alias(text: str) -> str:
    """An argparse type: an MLflow alias (letters, digits, _ and -, not a version-like v<number>)."""
    import re

    if not re.fullmatch(r"[A-Za-z_][\w-]*", text) or re.fullmatch(r"[vV]\d+", text):
        raise argparse.ArgumentTypeError(f"expected an alias of letters, digits, _ and - (not v<number>), got {text!r}")
    return text


def top_parser() -> tuple[argparse.ArgumentParser, argparse._SubParsersAction]:
    """The `faceattr` parser and its subcommand group (filled by the add_* functions)."""
    parser = argparse.ArgumentParser(
        prog="faceattr",
        description="Facial-attribute models trained by the faceattr pipeline.",
        epilog=f"{EXAMPLES['top']}\n\n{EXIT_CODES}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"faceattr {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    return parser, sub


def add_evaluate(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    ev = _command(sub, "evaluate", "metrics of a model on any labelled CelebA-format dataset")
    ev.add_argument("--model", default=DEFAULT_MODEL, help=MODEL_HELP)
    ev.add_argument("--images", nargs="+", required=True, help="zip archive(s) or folder(s) of images")
    ev.add_argument("--labels", required=True, help="attribute file: official .txt, Kaggle .csv or Filename-header 0/1")
    ev.add_argument("--partition", help="a partition file (NNNNNN.jpg 0|1|2) to evaluate one split of")
    ev.add_argument(
        "--split", type=int, choices=(0, 1, 2), default=2, help="with --partition: 0 train, 1 val, 2 test (default)"
    )
    ev.add_argument("--threshold", type=_probability, default=None, help=THRESHOLD_HELP)
    ev.add_argument(
        "--tta",
        action="store_true",
        help="average each image's probabilities with its mirror image's (the pipeline's evaluate.tta_hflip)",
    )
    ev.add_argument("--out", help="write the metrics JSON here")
    return ev


def add_predict(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    pr = _command(
        sub,
        "predict",
        "per-image (or, with --detect, per-face) attribute probabilities and decisions",
        description="Attribute probabilities and decisions for aligned face crops (like CelebA's), "
        "or, with --detect, for every face found in ordinary photos.",
    )
    pr.add_argument("inputs", nargs="+", help="image files, folders or zip archives")
    pr.add_argument("--model", default=DEFAULT_MODEL, help=MODEL_HELP)
    pr.add_argument("--format", choices=("table", "json", "csv"), default="table")
    pr.add_argument("--threshold", type=_probability, default=None, help=THRESHOLD_HELP)
    pr.add_argument("--onnx", help="run this exported ONNX model with ONNX Runtime instead of --model")
    pr.add_argument(
        "--precision",
        choices=("auto", "bf16", "fp32"),
        default="auto",
        help="auto (default): bf16 where the CPU has native bf16 (several times faster; probabilities "
        "differ from fp32 by about 0.001, rarely 0.03); fp32: full precision, as evaluate uses",
    )
    _add_input_options(pr, "report one row per face with its box x,y,w,h")
    return pr


def add_explain(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    xp = _command(
        sub,
        "explain",
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
    xp.add_argument("--threshold", type=_probability, default=None, help=THRESHOLD_HELP)
    xp.add_argument(
        "--feature-maps",
        metavar="LAYER",
        help=f"also write the most active feature maps of this layer; layers: {layers_help()}",
    )
    _add_input_options(xp, "explain each face")
    return xp


def add_export(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    ex = _command(sub, "export", "export to ONNX, checked against PyTorch")
    ex.add_argument("--model", default=DEFAULT_MODEL, help=MODEL_HELP)
    ex.add_argument("--onnx", required=True, help="where to write the .onnx file")
    return ex


def add_serve(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    sv = _command(
        sub,
        "serve",
        "a web page and JSON API: upload a photo, see each face's attributes and heat maps",
        description="A web page where a person drops a photo and sees a box per face, each face's "
        "aligned crop, every attribute's probability against the threshold and the heat "
        "map of the attribute clicked; beside it a JSON API (/api/predict, /api/explain, "
        "/api/model, /healthz). Listens on loopback unless --host says otherwise.",
    )
    sv.add_argument("--model", default=DEFAULT_MODEL, help=MODEL_HELP)
    sv.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: %(default)s, this machine only; 0.0.0.0 opens it to the network)",
    )
    sv.add_argument("--port", type=_port, default=8000, help="TCP port (default: %(default)s)")
    sv.add_argument(
        "--max-upload-mb",
        type=_positive,
        default=10.0,
        metavar="MB",
        help="refuse request bodies larger than this with 413 (default: %(default)g)",
    )
    sv.add_argument("--threshold", type=_probability, default=None, help=THRESHOLD_HELP)
    sv.add_argument(
        "--precision",
        choices=("auto", "bf16", "fp32"),
        default="auto",
        help="as for predict: auto (default) uses bf16 where the CPU has native bf16",
    )
    sv.add_argument(
        "--detector",
        choices=("mtcnn", "haar"),
        default=None,
        help="face detector for photos (default: faceattr.predict.detect.DEFAULT_DETECTOR)",
    )
    sv.add_argument(
        "--max-megapixels",
        type=_positive,
        default=MAX_MEGAPIXELS,
        metavar="MP",
        help="refuse images larger than this, judged from their header (default: %(default)g)",
    )
    sv.add_argument(
        "--threads",
        type=_count,
        default=1,
        help="PyTorch's threads inside one operation (default: %(default)s: requests already run side by "
        "side, and on a 2-core CPU one thread answered faster than one per core, with or without "
        "concurrent clients: benchmarks/README.md)",
    )
    return sv


def add_info(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    nf = _command(
        sub,
        "info",
        "the model card: architecture, attributes, thresholds, what it was trained on",
        description="The model card of a model file: architecture, head, parameter count, input size and "
        "normalisation, attributes, decision thresholds (and whether tuned), size and SHA-256; "
        "and what it was trained on: from the file when it records it, else, for the "
        "pipeline's own model, from dvc.lock (when it records this very file) and the metrics "
        "files it records beside it; and the MLflow run tagged with the file's hash.",
    )
    nf.add_argument("model", nargs="?", default=DEFAULT_MODEL, help=MODEL_HELP)
    nf.add_argument("--format", choices=("text", "json"), default="text")
    nf.add_argument(
        "--no-mlflow",
        action="store_true",
        help="skip the MLflow lookup (it reads ./mlflow.db or MLFLOW_TRACKING_URI; importing MLflow takes seconds)",
    )
    return nf


def add_promote(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    pm = _command(
        sub,
        "promote",
        "make a training's registered model version the champion (models:/faceattr@champion)",
        description="Every training registers its model as a version of the MLflow registered model "
        "faceattr. This points the alias (champion unless --alias says otherwise) at the "
        "version that one training registered, found by its MLflow run id or by its DVC "
        "experiment name (an experiment name used twice: its newest run). Reads ./mlflow.db "
        "or MLFLOW_TRACKING_URI.",
    )
    pm.add_argument("ref", help="MLflow run id or DVC experiment name (dvc exp show lists them)")
    pm.add_argument("--alias", default="champion", type=_alias, help="alias to set (default: %(default)s)")
    return pm


def add_recipe(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from faceattr.pipeline import recipe  # light: argparse, yaml

    rc = _command(
        sub,
        "recipe",
        "run a named recipe (recipes/*.yaml: params overrides) as one DVC experiment",
        description="Run a recipe, a named set of params.yaml overrides in recipes/*.yaml, as one "
        "`dvc exp run --temp` experiment (and MLflow run) named after it. DVC runs from this "
        "faceattr's own Python environment. Exit status: DVC's.",
    )
    recipe.add_arguments(rc)
    return rc


def add_grid(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from faceattr.pipeline import grid  # light: argparse, yaml

    gd = _command(
        sub,
        "grid",
        "the published project's grid (alpha × subset) as queued DVC experiments, tabulated",
        description="Queue alpha 0.25/0.5/1.0 on subset 1000 and subsets 1000/2000/3000 at alpha 1.0 as "
        "DVC experiments, run them, and write their test metrics to metrics/grid.md. "
        "Exit status 1 when a point failed.",
    )
    grid.add_arguments(gd)
    return gd


ADDERS: dict[str, Callable[[argparse._SubParsersAction], argparse.ArgumentParser]] = {
    "evaluate": add_evaluate,
    "predict": add_predict,
    "explain": add_explain,
    "export": add_export,
    "serve": add_serve,
    "info": add_info,
    "promote": add_promote,
    "recipe": add_recipe,
    "grid": add_grid,
}
