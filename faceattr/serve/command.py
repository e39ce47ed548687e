"""The `faceattr serve` command: a web page and JSON API over one loaded model, on loopback by default."""

from __future__ import annotations

import argparse
import sys

from faceattr.cli.arguments import (
    DEFAULT_MODEL,
    MODEL_HELP,
    THRESHOLD_HELP,
    command_parser,
    count,
    port,
    positive,
    probability,
)
from faceattr.data.input_limits import MAX_MEGAPIXELS

EXAMPLES = {
    "serve": """\
examples:
  faceattr serve                                       # http://127.0.0.1:8000/, this machine only
  faceattr serve --model other/model.pt --port 9000 --threads 2
  faceattr serve --host 0.0.0.0 --max-upload-mb 5      # open to the network"""
}


def add_arguments_serve(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """`faceattr serve`'s options, help and examples."""
    sv = command_parser(
        sub,
        "serve",
        EXAMPLES["serve"],
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
    sv.add_argument("--port", type=port, default=8000, help="TCP port (default: %(default)s)")
    sv.add_argument(
        "--max-upload-mb",
        type=positive,
        default=10.0,
        metavar="MB",
        help="refuse request bodies larger than this with 413 (default: %(default)g)",
    )
    sv.add_argument("--threshold", type=probability, default=None, help=THRESHOLD_HELP)
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
        type=positive,
        default=MAX_MEGAPIXELS,
        metavar="MP",
        help="refuse images larger than this, judged from their header (default: %(default)g)",
    )
    sv.add_argument(
        "--threads",
        type=count,
        default=1,
        help="PyTorch's threads inside one operation (default: %(default)s: requests already run side by "
        "side, and on a 2-core CPU one thread answered faster than one per core, with or without "
        "concurrent clients: benchmarks/README.md)",
    )
    return sv


def run_serve(args: argparse.Namespace) -> int:
    """Run `faceattr serve`; the exit code."""
    import torch

    from faceattr.serve.app import serve
    from faceattr.serve.service import Service
    from faceattr.track.model_card import notice_if_synthetic

    if args.threads:
        torch.set_num_threads(args.threads)
    service = Service(
        args.model,
        threshold=args.threshold,
        precision=args.precision,
        detector=args.detector,
        max_megapixels=args.max_megapixels,
    )
    where = f"[{args.host}]" if ":" in args.host else args.host
    print(
        f"faceattr serve: {args.model} ({service.spec.arch}, {len(service.spec.attributes)} attributes) "
        f"at http://{where}:{args.port}/",
        file=sys.stderr,
    )
    notice_if_synthetic(args.model, service.spec)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: --host {args.host}: anyone who can reach this address can upload photos", file=sys.stderr)
    serve(service, args.host, args.port, args.max_upload_mb)
    return 0
