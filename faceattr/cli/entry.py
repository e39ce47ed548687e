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
the registered model every training adds to the MLflow store (faceattr/track/registry.py).

Exit codes: 0 success (some inputs skipped with a warning is still success when one was answered),
1 nothing answered, 2 a usage or input error (EXIT_CODES).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from typing import Sequence

from faceattr.predict.answer_rows import answer_row
from faceattr.cli.arguments import ADDERS, top_parser
from faceattr.predict.inputs import Scan, iter_crops, report_problems, require_inputs, scan_inputs, warn_about_inputs
from faceattr.errors import FaceattrError

# torch, numpy and the rest load inside each command when it runs, so --help and --version are instant


def cmd_evaluate(args: argparse.Namespace) -> int:
    import numpy as np

    from faceattr.atomic import write_json
    from faceattr.evaluate.evaluation import evaluate, predict_probabilities
    from faceattr.data.labels import parse_attribute_file
    from faceattr.evaluate.metrics import majority_labels
    from faceattr.model.model_file import load_model
    from faceattr.data.partition import read_id_table

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
    print(f"{'attribute':<22}{'accuracy':>9}{'balanced':>10}{'f1':>8}{'roc_auc':>9}{'baseline':>10}")
    for name, m in metrics["per_attribute"].items():
        auc = f"{m['roc_auc']:.4f}" if "roc_auc" in m else "n/a"
        print(
            f"{name:<22}{m['accuracy']:>9.4f}{m['balanced_accuracy']:>10.4f}{m['f1']:>8.4f}{auc:>9}"
            f"{m['baseline_accuracy']:>10.4f}"
        )
    print(
        f"{'mean':<22}{metrics['mean_accuracy']:>9.4f}{metrics['mean_balanced_accuracy']:>10.4f}"
        f"{metrics['mean_f1']:>8.4f}{metrics.get('mean_roc_auc', float('nan')):>9.4f}"
        f"{metrics['baseline_mean_accuracy']:>10.4f}   ({metrics['images']} images)"
    )
    if args.out:
        write_json(args.out, metrics)
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from faceattr.device import use_bf16
    from faceattr.evaluate.evaluation import predict_probabilities
    from faceattr.track.model_card import notice_if_synthetic
    from faceattr.model.model_file import load_model

    if args.onnx:
        from faceattr.model.onnx_export import OnnxPredictor

        predictor = OnnxPredictor(args.onnx)
        spec, predict = predictor.spec, predictor.probabilities
    else:
        model, spec = load_model(args.model)
        bf16 = use_bf16(torch.device("cpu"), args.precision)

        def predict(images: torch.Tensor) -> np.ndarray:
            return predict_probabilities(model, spec, images, bf16=bf16)

    notice_if_synthetic(None if args.onnx else args.model, spec)  # an ONNX file carries the spec's extra too
    scan, prob = scan_inputs(
        args.inputs,
        spec.image_size,
        predict,
        detect=args.detect,
        detector=args.detector,
        max_megapixels=args.max_megapixels,
        what="predict",
    )
    problems = scan.problems
    warn_about_inputs(scan, spec.image_size)
    require_inputs(scan, args.inputs)
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
            writer.writerow(
                [r["image"], *face, *[v for a in spec.attributes for v in (r[a]["probability"], int(r[a]["present"]))]]
            )
    else:
        for r in rows:
            present = [a for a in spec.attributes if r[a]["present"]]
            face = f" face {r['face']} (box x,y,w,h = {','.join(map(str, r['box']))})" if args.detect else ""
            print(f"{r['image']}{face}: {', '.join(present) or '(none)'}")
            for a in spec.attributes:
                print(f"    {a:<22} {r[a]['probability']:.4f}{'  ✓' if r[a]['present'] else ''}")
    return 1 if (problems or scan.faceless) and not rows else 0


def cmd_explain(args: argparse.Namespace) -> int:
    import re
    from pathlib import Path

    from faceattr.explain.gradcam import feature_maps, grad_cam, resolve_attributes
    from faceattr.explain.heatmaps import explanation_figure, feature_map_figure
    from faceattr.track.model_card import notice_if_synthetic
    from faceattr.model.model_file import load_model

    model, spec = load_model(args.model)
    notice_if_synthetic(args.model, spec)
    attributes = resolve_attributes(spec, args.attribute)
    thresholds = dict(zip(spec.attributes, spec.decision_thresholds(args.threshold)))
    if args.feature_maps:
        from faceattr.explain.gradcam import find_layer

        find_layer(model, spec.arch, args.feature_maps)  # a wrong name fails before any image is read
    out = Path(args.out)
    scan, written = Scan(), 0
    for crop in iter_crops(
        args.inputs,
        spec.image_size,
        scan,
        detect=args.detect,
        detector=args.detector,
        max_megapixels=args.max_megapixels,
    ):
        scan.names.append(crop.name)
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(crop.image_id).stem)
        stem += f"_face{crop.where['face']}" if crop.where else ""
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
            path = out / f"{stem}_{attribute}{'_against' if args.against else ''}.png"
            explanation_figure(crop.shown, found.heat[0], title, path)
            print(path)
            written += 1
        if args.feature_maps:
            maps = feature_maps(model, spec, crop.model_input, args.feature_maps)
            path = out / f"{stem}_features_{args.feature_maps}.png"
            feature_map_figure(maps, f"{crop.name}{face}: {args.feature_maps} ({len(maps)} most active channels)", path)
            print(path)
            written += 1
    warn_about_inputs(scan, spec.image_size)
    require_inputs(scan, args.inputs)
    return 1 if not written else 0


def cmd_info(args: argparse.Namespace) -> int:
    from faceattr.track.model_card import card, render

    info = card(args.model, mlflow=not args.no_mlflow)
    if args.format == "json":
        json.dump(info, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(render(info))
    return 0


def cmd_promote(args: argparse.Namespace) -> int:
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


def cmd_recipe(args: argparse.Namespace) -> int:
    from faceattr.pipeline.recipe import run

    return run(args)


def cmd_grid(args: argparse.Namespace) -> int:
    from faceattr.pipeline.grid import run

    return run(args)


def cmd_export(args: argparse.Namespace) -> int:
    from faceattr.model.onnx_export import MAX_ABS_DIFF, export_onnx

    diff = export_onnx(args.model, args.onnx)
    print(f"wrote {args.onnx}: max |ONNX - PyTorch| = {diff:.2e} on random inputs (limit {MAX_ABS_DIFF:g})")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import torch

    from faceattr.track.model_card import notice_if_synthetic
    from faceattr.serve.app import serve
    from faceattr.serve.service import Service

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


def build_parser() -> argparse.ArgumentParser:
    """The whole command line: faceattr/cli/arguments.py declares each subcommand, this module runs it."""
    parser, sub = top_parser()
    commands = {
        "evaluate": cmd_evaluate,
        "predict": cmd_predict,
        "explain": cmd_explain,
        "export": cmd_export,
        "serve": cmd_serve,
        "info": cmd_info,
        "promote": cmd_promote,
        "recipe": cmd_recipe,
        "grid": cmd_grid,
    }
    for name, command in commands.items():
        ADDERS[name](sub).set_defaults(func=command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if str(getattr(args, "model", "")).startswith("models:/"):  # a registered version: fetch its file
            from faceattr.track.registry import fetch

            args.model = str(fetch(args.model))
        return args.func(args)
    except FaceattrError as exc:
        print(f"faceattr: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
