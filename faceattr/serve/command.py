"""The `faceattr serve` command: a web page and JSON API over one loaded model, on loopback by default."""

from __future__ import annotations

import argparse
import sys

from faceattr.cli.arguments import (
    DEFAULT_MODEL,
    MAX_MEGAPIXELS_BOUND,
    MAX_UPLOAD_MB_BOUND,
    MODEL_HELP,
    THRESHOLD_HELP,
    command_parser,
    count,
    megapixels,
    port,
    probability,
    upload_mb,
)
from faceattr.data.input_limits import MAX_MEGAPIXELS

EXAMPLES = {
    "serve": """\
examples:
  faceattr serve                                       # http://127.0.0.1:8000/, this machine only
  faceattr serve --model other/model.pt --port 9000 --threads 2
  faceattr serve --host 0.0.0.0 --allow-host photos.lan --max-upload-mb 5   # open to the network"""
}

DEFAULT_MAX_FACES = 50  # faceattr.serve.service.DEFAULT_MAX_FACES (not imported: it imports torch)


def host_name_type(text: str) -> str:
    """An argparse type: a host name or address as a browser writes it in the Host header (no port, no path)."""
    name = text.strip().lower()
    bare = name[1:-1] if name.startswith("[") and name.endswith("]") else name
    if not bare or any(c in bare for c in "/\\@ \t?#") or not bare.isascii():
        raise argparse.ArgumentTypeError(f"expected a host name or address (no port, no path), got {text!r}")
    return bare


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
        "--allow-host",
        type=host_name_type,
        action="append",
        default=[],
        metavar="NAME",
        help="also answer requests for this host name (repeatable): only requests whose Host header is a "
        "loopback name (127.0.0.1, localhost, [::1]) or --host's are answered, which keeps other web sites "
        "from reaching the server through DNS rebinding; name here the address or name the network uses",
    )
    sv.add_argument(
        "--max-upload-mb",
        type=upload_mb,
        default=10.0,
        metavar="MB",
        help=f"refuse request bodies larger than this with 413 (default: %(default)g, at most {MAX_UPLOAD_MB_BOUND:g})",
    )
    sv.add_argument(
        "--max-faces",
        type=count,
        default=DEFAULT_MAX_FACES,
        metavar="N",
        help="answer at most this many faces of a photo, the largest, and say so in the reply (default: %(default)s)",
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
        type=megapixels,
        default=MAX_MEGAPIXELS,
        metavar="MP",
        help=f"refuse images larger than this, judged from their header (default: %(default)g, at most "
        f"{MAX_MEGAPIXELS_BOUND:g})",
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

    from faceattr.errors import FaceattrError
    from faceattr.serve.app import port_problem, serve
    from faceattr.serve.service import Service
    from faceattr.track.model_card import notice_if_synthetic

    problem = port_problem(args.host, args.port)  # before the model loads: seconds sooner (serve checks again)
    if problem:
        raise FaceattrError(problem)
    if args.threads:
        torch.set_num_threads(args.threads)
    service = Service(
        args.model,
        threshold=args.threshold,
        precision=args.precision,
        detector=args.detector,
        max_megapixels=args.max_megapixels,
        max_faces=args.max_faces,
    )
    where = f"[{args.host}]" if ":" in args.host else args.host
    print(
        f"faceattr serve: {args.model} ({service.spec.arch}, {len(service.spec.attributes)} attributes) "
        f"at http://{where}:{args.port}/",
        file=sys.stderr,
    )
    notice_if_synthetic(args.model, service.spec)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(
            f"warning: --host {args.host}: anyone who can reach this address can upload photos; requests are "
            f"answered for the Host names {', '.join(['127.0.0.1', 'localhost', '[::1]', args.host, *args.allow_host])} "
            f"only (--allow-host NAME adds one)",
            file=sys.stderr,
        )
    serve(service, args.host, args.port, args.max_upload_mb, allowed_hosts=args.allow_host)
    return 0
