"""The model card of a model file (`faceattr info`), and what the model was trained on.

A model file records how to run it (ModelSpec) but, from files written before `extra["trained_on"]`,
not what it learnt from. For the pipeline's own model that is recoverable without trusting anything
that may have changed since: when dvc.lock in the repository holding the file records this very file
(same MD5) as the train stage's output, the lock's params are the ones it was trained with, and the
metrics files whose MD5s the lock records next to it are its own.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, TextIO

SYNTHETIC_DIR = "data/raw/synthetic"  # params.yaml's default data.dir: the synth stage's faces
TRAINED_ON_KEY = "trained_on"  # ModelSpec.extra[TRAINED_ON_KEY]: data.dir of the training data, when recorded
SYNTHETIC_NOTICE = (
    "note: this model was trained on the pipeline's synthetic faces (the default); its answers on "
    "real photos mean little — train on CelebA (README: Real CelebA)"
)


@dataclass
class Provenance:
    """What a model was trained on, and by which record we know it (`source`)."""

    source: str = ""  # "model spec", "dvc.lock" or "" (unknown)
    trained_on: str = ""  # data.dir
    params: dict[str, Any] = field(default_factory=dict)  # the train stage's params, from dvc.lock
    train_metrics: dict[str, Any] = field(default_factory=dict)
    test_metrics: dict[str, Any] = field(default_factory=dict)
    metrics_files: list[str] = field(default_factory=list)

    @property
    def synthetic(self) -> bool:
        return is_synthetic(self.trained_on)


def is_synthetic(data_dir: str) -> bool:
    """Whether data.dir names the synth stage's output (the default), however it is spelled."""
    if not data_dir:
        return False
    path = PurePosixPath(str(data_dir).replace("\\", "/"))
    return str(path) == SYNTHETIC_DIR or str(path).endswith("/" + SYNTHETIC_DIR) or path.name == "synthetic"


def _md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _read_lock(root: Path) -> dict:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(root / "dvc.lock", encoding="utf-8") as fh:
        lock = yaml.load(fh, Loader=loader)  # noqa: S506 - a safe loader
    return lock.get("stages") or {} if isinstance(lock, dict) else {}


def _outs(stage: dict) -> dict[str, str]:
    return {o.get("path"): o.get("md5") for o in stage.get("outs") or [] if isinstance(o, dict)}


def _params(stage: dict) -> dict:
    return ((stage.get("params") or {}).get("params.yaml") or {}) if isinstance(stage, dict) else {}


def from_dvc_lock(model_path: str | Path) -> Provenance:
    """The provenance dvc.lock records for this file, if a repository above it records it as the train
    stage's output with the same MD5; else an empty Provenance. Reads a YAML file and hashes the model."""
    path = Path(model_path).resolve()
    for root in list(path.parents)[:3]:
        if not (root / "dvc.lock").is_file():
            continue
        try:
            stages = _read_lock(root)
            train = stages.get("train") or {}
            name = path.relative_to(root).as_posix()
            recorded = _outs(train).get(name)
            if not recorded or recorded != _md5(path):
                return Provenance()
        except Exception:  # noqa: BLE001 - an odd lock (hand-edited, another DVC schema) is no lock
            return Provenance()  # a provenance we cannot establish is no provenance, never an error
        found = Provenance(source="dvc.lock", params=_params(train))
        data = _params(stages.get("unzip") or {}).get("data") or {}
        found.trained_on = str(data.get("dir") or "") if isinstance(data, dict) else ""
        found.train_metrics = _own_metrics(root, _outs(train), "metrics/train.json", found)
        evaluate = stages.get("evaluate") or {}
        deps = {d.get("path"): d.get("md5") for d in evaluate.get("deps") or [] if isinstance(d, dict)}
        if deps.get(name) == recorded:  # the evaluation of this very model
            found.test_metrics = _own_metrics(root, _outs(evaluate), "metrics/eval.json", found)
        return found
    return Provenance()


def _own_metrics(root: Path, outs: dict[str, str], name: str, found: Provenance) -> dict:
    """A metrics file's content when it is the one dvc.lock records (same MD5), else {}."""
    path = root / name
    try:
        if outs.get(name) and path.is_file() and _md5(path) == outs[name]:
            found.metrics_files.append(name)
            return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    return {}


def provenance(model_path: str | Path | None, spec: Any) -> Provenance:
    """The spec's own record (extra["trained_on"]) first; else, for the pipeline's own file, dvc.lock's."""
    trained_on = (spec.extra or {}).get(TRAINED_ON_KEY) if isinstance(getattr(spec, "extra", None), dict) else None
    found = from_dvc_lock(model_path) if model_path is not None else Provenance()
    if isinstance(trained_on, str) and trained_on:
        found.source, found.trained_on = "model spec", trained_on
    return found


def notice_if_synthetic(model_path: str | Path | None, spec: Any, stream: TextIO | None = None) -> bool:
    """Print SYNTHETIC_NOTICE when the model learnt from the synthetic faces (commands call it once, on load).

    Why: the default pipeline trains on drawn faces, and its near-perfect test figures say nothing about
    real photos; someone running `predict` on their own photos should hear that before trusting a row.
    """
    if not provenance(model_path, spec).synthetic:
        return False
    print(SYNTHETIC_NOTICE, file=stream if stream is not None else sys.stderr)
    return True


def card(model_path: str | Path, mlflow: bool = True) -> dict[str, Any]:
    """Everything `faceattr info` shows, as one JSON-ready mapping."""
    from faceattr.digest import file_sha256
    from faceattr.file_types import size_words
    from faceattr.model.model_file import load_model

    path = Path(model_path)
    model, spec = load_model(path)
    parameters = sum(p.numel() for p in model.parameters())
    found = provenance(path, spec)
    params = found.params
    tuned = params.get("evaluate.tune_thresholds") if "evaluate.tune_thresholds" in params else None
    if spec.thresholds is None:
        how = "0.5 for every attribute (the file holds none)"
    elif tuned is True or (tuned is None and len(set(spec.thresholds)) > 1):
        how = f"tuned on the validation split ({params.get('evaluate.threshold_objective', 'objective not recorded')})"
    else:
        how = "one fixed threshold for every attribute (evaluate.threshold; not tuned)"
    result: dict[str, Any] = {
        "file": str(path),
        "bytes": path.stat().st_size,
        "size": size_words(path.stat().st_size),
        "sha256": file_sha256(path),
        "arch": spec.arch,
        "alpha": spec.alpha,
        "head": spec.head,
        "parameters": parameters,
        "input_size": {"height": spec.image_size[0], "width": spec.image_size[1]},
        "normalisation": {"mean": list(spec.mean), "std": list(spec.std)},
        "attributes": list(spec.attributes),
        "thresholds": dict(zip(spec.attributes, spec.decision_thresholds())),
        "thresholds_chosen": how,
        "extra": dict(spec.extra),
        "trained_on": {
            "data_dir": found.trained_on or None,
            "synthetic": found.synthetic,
            "known_from": found.source or None,
        },
    }
    if params:
        model_params = params.get("model") or {}
        result["training"] = {
            k: v
            for k, v in {
                "subset": params.get("subset"),
                "seed": params.get("seed"),
                # '' means from scratch: say so rather than print an empty value
                "pretrained": (model_params.get("pretrained") or "none (from scratch)")
                if isinstance(model_params, dict)
                else None,
                "freeze": model_params.get("freeze") if isinstance(model_params, dict) else None,
                **{
                    f"train.{k}": v
                    for k, v in (params.get("train") or {}).items()
                    if k in ("image_size", "epochs", "batch_size", "optimizer", "lr", "loss", "teachers")
                },
            }.items()
            if v is not None
        }
    if found.train_metrics:
        result["train_metrics"] = found.train_metrics
    if found.test_metrics:
        result["test_metrics"] = {k: v for k, v in found.test_metrics.items() if k != "per_attribute"}
    if found.metrics_files:
        result["metrics_files"] = found.metrics_files
    if mlflow:
        from faceattr.track.provenance import model_run

        run = model_run(path)
        result["mlflow"] = {k: v for k, v in run.items() if k != "model_sha256"}
    return result


def render(info: dict[str, Any]) -> str:
    """The card as aligned text lines."""

    def fmt(v: Any) -> str:
        return f"{v:.4f}" if isinstance(v, float) else str(v)

    size = info["input_size"]
    norm = info["normalisation"]
    lines = [
        ("model", f"{info['file']} ({info['size']}, sha256 {info['sha256']})"),
        (
            "architecture",
            f"{info['arch']}, alpha {info['alpha']:g}, {info['head']} head, {info['parameters']:,} parameters",
        ),
        (
            "input",
            f"{size['height']}×{size['width']} (height × width), RGB normalised with mean "
            f"{', '.join(f'{m:.3f}' for m in norm['mean'])} and std {', '.join(f'{s:.3f}' for s in norm['std'])}",
        ),
        ("attributes", f"{len(info['attributes'])}: {', '.join(info['attributes'])}"),
        (
            "thresholds",
            f"{info['thresholds_chosen']}: " + ", ".join(f"{a} {t:.3g}" for a, t in info["thresholds"].items()),
        ),
    ]
    trained = info["trained_on"]
    if trained["data_dir"]:
        what = (
            " (the pipeline's synthetic faces, the default: answers on real photos mean little)"
            if trained["synthetic"]
            else ""
        )
        lines.append(("trained on", f"{trained['data_dir']}{what}; known from {trained['known_from']}"))
    else:
        lines.append(
            (
                "trained on",
                "not recorded (not the file dvc.lock records as the train stage's output, "
                "and the file records no data.dir)",
            )
        )
    if "training" in info:
        lines.append(("training", ", ".join(f"{k} {fmt(v)}" for k, v in info["training"].items())))
    if "train_metrics" in info:
        lines.append(("train/val", ", ".join(f"{k} {fmt(v)}" for k, v in info["train_metrics"].items())))
    if "test_metrics" in info:
        shown = (
            "images",
            "mean_accuracy",
            "mean_balanced_accuracy",
            "mean_f1",
            "mean_roc_auc",
            "baseline_mean_accuracy",
        )
        lines.append(
            ("test", ", ".join(f"{k} {fmt(info['test_metrics'][k])}" for k in shown if k in info["test_metrics"]))
        )
    if info["extra"]:
        lines.append(("extra", json.dumps(info["extra"], sort_keys=True)))
    if "mlflow" in info:
        run = info["mlflow"]
        lines.append(
            (
                "mlflow run",
                f"{run['run_id']} ({run.get('run_name')})" if run.get("run_id") else f"none ({run.get('reason')})",
            )
        )
        if run.get("registered"):
            lines.append(("registered", ", ".join(run["registered"])))
    width = max(len(k) for k, _ in lines) + 2
    return "\n".join(f"{k:<{width}}{v}" for k, v in lines)
