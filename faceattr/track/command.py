"""The `faceattr info` and `faceattr promote` commands: a model file's card, and which registered version
becomes `models:/faceattr@champion`."""

from __future__ import annotations

import argparse
import json
import sys

from faceattr.cli.arguments import DEFAULT_MODEL, MODEL_HELP, alias, command_parser

EXAMPLES = {
    "info": """\
examples:
  faceattr info                                        # models/model.pt
  faceattr info other/model.pt --format json
  faceattr info --no-mlflow                            # skip the MLflow lookup (seconds to import)
  faceattr info models:/faceattr@champion              # the promoted version""",
    "promote": """\
examples:
  faceattr promote a0p25-s3000                         # a DVC experiment's training (dvc exp show names them)
  faceattr promote 3f2c1e0b9a8d4c7e8f6a5b4c3d2e1f0a    # an MLflow run id
  faceattr promote a0p25-s3000 --alias challenger
  faceattr predict photos/ --model models:/faceattr@champion   # then use it""",
}


def add_arguments_info(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """`faceattr info`'s options, help and examples."""
    nf = command_parser(
        sub,
        "info",
        EXAMPLES["info"],
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


def run_info(args: argparse.Namespace) -> int:
    """Run `faceattr info`; the exit code."""
    from faceattr.track.model_card import card, render

    info = card(args.model, mlflow=not args.no_mlflow)
    if args.format == "json":
        json.dump(info, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(render(info))
    return 0


def add_arguments_promote(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """`faceattr promote`'s options, help and examples."""
    pm = command_parser(
        sub,
        "promote",
        EXAMPLES["promote"],
        "make a training's registered model version the champion (models:/faceattr@champion)",
        description="Every training registers its model as a version of the MLflow registered model "
        "faceattr. This points the alias (champion unless --alias says otherwise) at the "
        "version that one training registered, found by its MLflow run id or by its DVC "
        "experiment name (an experiment name used twice: its newest run). Reads ./mlflow.db "
        "or MLFLOW_TRACKING_URI.",
    )
    pm.add_argument("ref", help="MLflow run id or DVC experiment name (dvc exp show lists them)")
    pm.add_argument("--alias", default="champion", type=alias, help="alias to set (default: %(default)s)")
    return pm


def run_promote(args: argparse.Namespace) -> int:
    """Run `faceattr promote`; the exit code."""
    from faceattr.track.registry import promote

    version, before, metrics = promote(args.ref, args.alias)
    shown = ", ".join(
        f"{k} {metrics[k]:.4f}" for k in ("mean_accuracy", "mean_balanced_accuracy", "mean_f1") if k in metrics
    )
    print(
        f"models:/{version.name}@{args.alias} is now {version.uri} (run {version.run_id}"
        f"{'; test ' + shown if shown else '; its run has no test metrics yet: the evaluate stage logs them'})"
    )
    print(f"before: {before.uri if before else 'no version had @' + args.alias}")
    return 0
