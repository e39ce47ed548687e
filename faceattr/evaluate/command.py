"""The `faceattr evaluate` command: metrics of a model file on any labelled CelebA-format dataset."""

from __future__ import annotations

import argparse
import json
import sys

from faceattr.cli.arguments import DEFAULT_MODEL, MODEL_HELP, THRESHOLD_HELP, command_parser, probability
from faceattr.errors import FaceattrError
from faceattr.predict.inputs import report_problems, scan_inputs

EXAMPLES = {
    "evaluate": """\
examples:
  faceattr evaluate --images data/interim/img_align_celeba --labels list_attr_celeba.txt
  faceattr evaluate --images img_align_celeba.zip --labels list_attr_celeba.txt \\
      --partition list_eval_partition.txt --split 2 --out /tmp/test-metrics.json
  faceattr evaluate --model other/model.pt --images crops/ --labels labels.csv --tta --threshold 0.5"""
}


def add_arguments_evaluate(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """`faceattr evaluate`'s options, help and examples."""
    ev = command_parser(
        sub, "evaluate", EXAMPLES["evaluate"], "metrics of a model on any labelled CelebA-format dataset"
    )
    ev.add_argument("--model", default=DEFAULT_MODEL, help=MODEL_HELP)
    ev.add_argument("--images", nargs="+", required=True, help="zip archive(s) or folder(s) of images")
    ev.add_argument("--labels", required=True, help="attribute file: official .txt, Kaggle .csv or Filename-header 0/1")
    ev.add_argument("--partition", help="a partition file (NNNNNN.jpg 0|1|2) to evaluate one split of")
    ev.add_argument(
        "--split", type=int, choices=(0, 1, 2), default=2, help="with --partition: 0 train, 1 val, 2 test (default)"
    )
    ev.add_argument("--threshold", type=probability, default=None, help=THRESHOLD_HELP)
    ev.add_argument(
        "--tta",
        action="store_true",
        help="average each image's probabilities with its mirror image's (the pipeline's evaluate.tta_hflip)",
    )
    ev.add_argument(
        "--out",
        help="write the metrics JSON here: a new or regular file (a symlink, device or FIFO there is refused), "
        "or - for standard output (the table then goes to standard error)",
    )
    return ev


def run_evaluate(args: argparse.Namespace) -> int:
    """Run `faceattr evaluate`; the exit code."""
    import numpy as np

    from faceattr.atomic import STDOUT, refuse_special, write_json
    from faceattr.data.labels import parse_attribute_file
    from faceattr.data.partition import read_id_table
    from faceattr.evaluate.evaluation import evaluate, predict_probabilities
    from faceattr.evaluate.metrics import majority_labels
    from faceattr.model.model_file import load_model

    to_stdout = args.out == STDOUT
    if args.out and not to_stdout:
        refuse_special(args.out, "--out")  # before the evaluation, which takes a while
    model, spec = load_model(args.model)
    table, parsed = parse_attribute_file(args.labels)
    attributes = [a for a in spec.attributes if a in table.names]
    if not attributes:
        raise FaceattrError(f"{args.labels}: has none of the model's attributes ({' '.join(spec.attributes)})")
    skipped_attrs = [a for a in spec.attributes if a not in table.names]
    if skipped_attrs:
        print(
            f"note: {args.labels} lacks {', '.join(skipped_attrs)}; evaluating the other {len(attributes)}",
            file=sys.stderr,
        )
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
    scan, prob = scan_inputs(
        args.images,
        spec.image_size,
        lambda images: predict_probabilities(model, spec, images, tta_hflip=args.tta)[:, cols],
        wanted,
        what="evaluate",
    )
    problems = scan.problems
    report_problems(problems)
    missing = len(wanted) - len(scan.ids) - len(problems)
    if missing:
        print(f"warning: {missing} labelled image(s) not found in {', '.join(args.images)}; skipped", file=sys.stderr)
    if not scan.ids:
        if problems:  # labelled images were there but none could be read: nothing answered
            print(
                f"faceattr: error: none of the {len(problems)} labelled image(s) found could be read", file=sys.stderr
            )
            return 1
        raise FaceattrError("no labelled images to evaluate")
    y_true = np.stack([labels[i] for i in scan.ids]).astype(int)
    thresholds = spec.decision_thresholds(args.threshold)
    result = evaluate(attributes, y_true, prob, majority_labels(majority_source), [thresholds[c] for c in cols])
    metrics = {**result.metrics, "images_skipped": len(problems), "images_missing": missing}
    table_to = sys.stderr if to_stdout else sys.stdout  # with --out -, standard output is the JSON alone
    print(f"{'attribute':<22}{'accuracy':>9}{'balanced':>10}{'f1':>8}{'roc_auc':>9}{'baseline':>10}", file=table_to)
    for name, m in metrics["per_attribute"].items():
        auc = f"{m['roc_auc']:.4f}" if "roc_auc" in m else "n/a"
        print(
            f"{name:<22}{m['accuracy']:>9.4f}{m['balanced_accuracy']:>10.4f}{m['f1']:>8.4f}{auc:>9}"
            f"{m['baseline_accuracy']:>10.4f}",
            file=table_to,
        )
    print(
        f"{'mean':<22}{metrics['mean_accuracy']:>9.4f}{metrics['mean_balanced_accuracy']:>10.4f}"
        f"{metrics['mean_f1']:>8.4f}{metrics.get('mean_roc_auc', float('nan')):>9.4f}"
        f"{metrics['baseline_mean_accuracy']:>10.4f}   ({metrics['images']} images)",
        file=table_to,
    )
    if to_stdout:
        json.dump(metrics, sys.stdout, indent=2, sort_keys=True)  # the same text write_json writes to a file
        sys.stdout.write("\n")
    elif args.out:
        write_json(args.out, metrics, regular_only="--out")
    return 0
