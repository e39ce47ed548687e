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

Each subcommand lives in the `command.py` of the folder it belongs to (COMMANDS), as `add_arguments_NAME`
(its options) and `run_NAME` (what it does). Those modules import argparse and the option types only: torch
and the rest load inside `run_NAME`, so `faceattr --help` is instant. --model (and info's model) also takes models:/faceattr@champion
or models:/faceattr/<version>: a version of the registered model every training adds to the MLflow store
(faceattr/track/registry.py).

Exit codes: 0 success (some inputs skipped with a warning is still success when one was answered),
1 nothing answered, 2 a usage or input error (faceattr.cli.arguments.EXIT_CODES).
"""

from __future__ import annotations

import argparse
import sys
from importlib import import_module
from typing import Sequence

from faceattr.cli.arguments import top_parser
from faceattr.errors import FaceattrError, shorten

# subcommand → the module holding its add_arguments_<name> and run_<name>, in `faceattr --help`'s order
COMMANDS = {
    "evaluate": "faceattr.evaluate.command",
    "predict": "faceattr.predict.command",
    "explain": "faceattr.explain.command",
    "export": "faceattr.model.command",
    "serve": "faceattr.serve.command",
    "info": "faceattr.track.command",
    "promote": "faceattr.track.command",
    "recipe": "faceattr.pipeline.command",
    "grid": "faceattr.pipeline.command",
}


def build_parser() -> argparse.ArgumentParser:
    """The whole command line; each subcommand's parser runs its `run_<name>`."""
    parser, sub = top_parser()
    for name, module_name in COMMANDS.items():
        module = import_module(module_name)  # light: argparse and the option types only
        getattr(module, f"add_arguments_{name}")(sub).set_defaults(func=getattr(module, f"run_{name}"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if str(getattr(args, "model", "")).startswith("models:/"):  # a registered version: fetch its file
            from faceattr.track.registry import fetch

            args.model = str(fetch(args.model))
        return args.func(args)
    except FaceattrError as exc:
        print(f"faceattr: error: {shorten(str(exc))}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
