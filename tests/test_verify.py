"""make verify's judgement: data byte-identical, then the model bit-identical or the metrics within tolerance."""

from faceattr.pipeline.verify import compare

LOCK = {
    "stages": {
        "synth": {"outs": [{"path": "data/raw/synthetic", "md5": "a.dir"}]},
        "preprocess": {"outs": [{"path": "data/processed/pixels", "md5": "b.dir"}]},
        "train": {"outs": [{"path": "models/model.pt", "md5": "m1"}, {"path": "plots/train_history.csv", "md5": "h1"}]},
        "evaluate": {"outs": [{"path": "plots/predictions.csv", "md5": "p1"}]},
    }
}
METRICS = {
    "mean_accuracy": 0.9867,
    "mean_balanced_accuracy": 0.8888,
    "mean_f1": 0.7875,
    "mean_roc_auc": 0.9799,
    "baseline_mean_accuracy": 0.768,
}


def _with(lock: dict, stage: str, path: str, md5: str) -> dict:
    import copy

    out = copy.deepcopy(lock)
    for o in out["stages"][stage]["outs"]:
        if o["path"] == path:
            o["md5"] = md5
    return out


def test_the_same_run_is_bit_identical():
    verdict = compare(LOCK, LOCK, METRICS, dict(METRICS), 0.02)
    assert verdict.ok and verdict.model_identical and verdict.summary().startswith("bit-identical")


def test_another_cpus_model_passes_within_the_tolerance_and_fails_outside_it():
    lock = _with(_with(LOCK, "train", "models/model.pt", "m2"), "evaluate", "plots/predictions.csv", "p2")
    close = {**METRICS, "mean_accuracy": 0.9800, "mean_f1": 0.80}
    verdict = compare(LOCK, lock, METRICS, close, 0.02)
    assert verdict.ok and not verdict.model_identical and verdict.summary().startswith("within tolerance")
    assert set(verdict.changed_outputs) == {"models/model.pt", "plots/predictions.csv"}
    far = compare(LOCK, lock, METRICS, {**METRICS, "mean_f1": 0.70}, 0.02)
    assert not far.ok and far.metric_failures == ["mean_f1: 0.7875 → 0.7 (|Δ| 0.0875 > 0.02)"]
    missing = compare(LOCK, lock, METRICS, {k: v for k, v in METRICS.items() if k != "mean_roc_auc"}, 0.02)
    assert not missing.ok and missing.metric_failures[0].startswith("mean_roc_auc:")


def test_data_stages_must_match_byte_for_byte():
    verdict = compare(LOCK, _with(LOCK, "preprocess", "data/processed/pixels", "c.dir"), METRICS, METRICS, 0.02)
    assert not verdict.ok and verdict.data_mismatches == ["data/processed/pixels"]
    assert verdict.summary().startswith("FAILED: data stages")


def test_an_older_metrics_file_with_more_keys_is_compared_on_the_headline():
    older = {**METRICS, "per_attribute": {"Male": {"accuracy": 0.9}}, "mean_precision": 0.8}
    assert compare(LOCK, LOCK, older, METRICS, 0.02).ok
