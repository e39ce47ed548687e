"""What every `faceattr` subcommand's arguments share: the top parser, the subcommand parser with examples
and exit codes, and the argparse types that check values. Each subcommand declares its own options in the
`command.py` of its folder (faceattr/predict/command.py, …); this module imports nothing heavy, so `--help`
stays instant."""

from __future__ import annotations

import argparse
from typing import Callable

from faceattr import __version__
from faceattr.data.input_limits import MAX_MEGAPIXELS

DEFAULT_MODEL = "models/model.pt"
MODEL_HELP = (
    "model file, or a registered version: models:/faceattr@champion, models:/faceattr/<version> (default: %(default)s)"
)

THRESHOLD_HELP = (
    "one decision threshold in (0, 1) for every attribute (default: the model's own, chosen on the "
    "validation split when the pipeline ran with evaluate.tune_thresholds; else 0.5)"
)


def port(text: str) -> int:
    """An argparse type: a TCP port, 0 (any free port) to 65535."""
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"expected a port number from 0 to 65535, got {text!r}")
    return int(text)


def count(text: str) -> int:
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


probability = _number(0, 1, "a number between 0 and 1 (exclusive)")
positive = _number(0, None, "a positive number")


def positive_up_to(most: float) -> Callable[[str], float]:
    """An argparse type: a number above 0 and at most `most` (a bound per option: 1e308 MB overflows)."""
    below = _number(0, None, f"a positive number up to {most:g}")

    def parse(text: str) -> float:
        value = below(text)
        if value > most:
            raise argparse.ArgumentTypeError(f"expected a positive number up to {most:g}, got {text!r}")
        return value

    return parse


MAX_UPLOAD_MB_BOUND = 1024.0  # --max-upload-mb: at most 1 GB (the body is held in memory)
MAX_MEGAPIXELS_BOUND = 1000.0  # --max-megapixels: at most 1000 MP (3 GB decoded as RGB)
upload_mb = positive_up_to(MAX_UPLOAD_MB_BOUND)
megapixels = positive_up_to(MAX_MEGAPIXELS_BOUND)


def add_input_options(parser: argparse.ArgumentParser, per_face: str) -> None:
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
        type=megapixels,
        default=MAX_MEGAPIXELS,
        metavar="MP",
        help="skip images larger than this, judged from their header before decoding "
        f"(default: %(default)g, at most {MAX_MEGAPIXELS_BOUND:g}; a decompression bomb costs gigabytes)",
    )


EXIT_CODES = """\
exit codes:
  0  success, also when some inputs were skipped with a warning (unreadable, no face found)
     but at least one image or face was answered
  1  nothing answered: every input was unreadable, or no face was found in any photo
  2  a usage or input error: a bad argument, a missing or unreadable model file, an empty
     folder, a label file without the model's attributes (one line on stderr)"""

TOP_EXAMPLES = """\
examples:
  faceattr info                                        # what models/model.pt is and was trained on
  faceattr predict group-photo.jpg --detect            # find, align and answer every face
  faceattr serve --port 8000                           # a web page on http://127.0.0.1:8000/
  faceattr promote a0p25-s3000                         # that experiment's model becomes models:/faceattr@champion

Run `faceattr COMMAND --help` for a command's options and examples."""


def command_parser(
    sub: argparse._SubParsersAction, name: str, examples: str, help: str, description: str | None = None
) -> argparse.ArgumentParser:
    """A subcommand whose --help ends with its examples and the exit codes, line breaks kept (the raw
    formatter keeps the description's too, so it is wrapped here)."""
    import textwrap

    description = textwrap.fill(description or help[:1].upper() + help[1:] + ".", width=100)
    return sub.add_parser(
        name,
        help=help,
        description=description,
        epilog=f"{examples}\n\n{EXIT_CODES}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def alias(text: str) -> str:
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
        epilog=f"{TOP_EXAMPLES}\n\n{EXIT_CODES}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"faceattr {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    return parser, sub
