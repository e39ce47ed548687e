"""The `faceattr export` command: a model file exported to ONNX, checked against PyTorch."""

from __future__ import annotations

import argparse

from faceattr.cli.arguments import DEFAULT_MODEL, MODEL_HELP, command_parser

EXAMPLES = {
    "export": """\
examples:
  faceattr export --onnx model.onnx                    # models/model.pt, checked against PyTorch
  faceattr export --model other/model.pt --onnx /tmp/other.onnx"""
}


def add_arguments_export(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """`faceattr export`'s options, help and examples."""
    ex = command_parser(sub, "export", EXAMPLES["export"], "export to ONNX, checked against PyTorch")
    ex.add_argument("--model", default=DEFAULT_MODEL, help=MODEL_HELP)
    ex.add_argument(
        "--onnx",
        required=True,
        help="where to write the .onnx file: a new or regular file (a symlink, device or FIFO there is refused)",
    )
    return ex


def run_export(args: argparse.Namespace) -> int:
    """Run `faceattr export`; the exit code."""
    from faceattr.model.onnx_export import MAX_ABS_DIFF, export_onnx

    diff = export_onnx(args.model, args.onnx)
    print(f"wrote {args.onnx}: max |ONNX - PyTorch| = {diff:.2e} on random inputs (limit {MAX_ABS_DIFF:g})")
    return 0
