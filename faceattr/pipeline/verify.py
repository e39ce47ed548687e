"""`make verify`: does this machine reproduce the committed results, and to which degree?

What faceattr promises (docs/pipeline-and-reproducibility.md):
- the data stages (check_params, synth, unzip, clean_labels, partition, preprocess) give byte-identical
  files everywhere: their hashes in dvc.lock must match the committed ones exactly;
- training is bit-identical on the same CPU type (instruction set) and precision: then the model and
  every later output match too;
- on another CPU (other bf16 or fp32 kernels) the model differs in its last bits and the test metrics
  must agree with the committed ones within a tolerance (default ±0.02 on each headline figure of
  metrics/eval.json).

Run after `dvc repro` (make verify does both); compares the workspace's dvc.lock and metrics with those
of a git revision (default HEAD). Exit 0 when the promise holds, 1 when it does not.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from faceattr.evaluate.evaluation import HEADLINE

DATA_STAGES = ("check_params", "synth", "unzip", "clean_labels", "partition", "preprocess")
JUDGED_METRICS = Path("metrics/eval.json")


@dataclass
class Verdict:
    """The comparison: differing data outputs, whether the model matched, metric figures out of tolerance."""

    data_mismatches: list[str] = field(default_factory=list)
    model_identical: bool = True
    changed_outputs: list[str] = field(default_factory=list)
    metric_differences: list[tuple[str, float, float]] = field(default_factory=list)
    metric_failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.data_mismatches and not self.metric_failures

    def summary(self) -> str:
        if self.data_mismatches:
            return "FAILED: data stages differ (they must be byte-identical everywhere)"
        if self.metric_failures:
            return "FAILED: test metrics outside the tolerance"
        if self.model_identical and not self.changed_outputs:
            return "bit-identical: same CPU type and precision as the committed run"
        return "within tolerance: the model differs in its last bits (another CPU's kernels), the metrics agree"


def lock_outputs(lock: dict) -> dict[str, dict[str, str]]:
    """{stage: {output path: md5}} of a parsed dvc.lock."""
    return {
        name: {o["path"]: o.get("md5", "") for o in stage.get("outs", [])}
        for name, stage in (lock.get("stages") or {}).items()
    }


def compare(committed_lock: dict, lock: dict, committed_metrics: dict, metrics: dict, tolerance: float) -> Verdict:
    """The verdict for a workspace (`lock`, `metrics`) against the committed run."""
    verdict = Verdict()
    before, after = lock_outputs(committed_lock), lock_outputs(lock)
    for stage in sorted(set(before) | set(after)):
        for path in sorted(set(before.get(stage, {})) | set(after.get(stage, {}))):
            if before.get(stage, {}).get(path) == after.get(stage, {}).get(path):
                continue
            if stage in DATA_STAGES:
                verdict.data_mismatches.append(path)
            else:
                verdict.changed_outputs.append(path)
    verdict.model_identical = before.get("train", {}).get("models/model.pt") == after.get("train", {}).get(
        "models/model.pt"
    )
    for key in HEADLINE:  # the figures both runs report (an older metrics file may hold more or fewer)
        old, new = committed_metrics.get(key), metrics.get(key)
        if not isinstance(old, (int, float)) or not isinstance(new, (int, float)):
            if (old is None) != (new is None):
                verdict.metric_failures.append(f"{key}: {old!r} → {new!r}")
            continue
        verdict.metric_differences.append((key, float(old), float(new)))
        if not math.isclose(old, new, abs_tol=tolerance + 1e-12):
            verdict.metric_failures.append(f"{key}: {old} → {new} (|Δ| {abs(new - old):.4f} > {tolerance})")
    return verdict


def _git_show(rev: str, path: str) -> str:
    out = subprocess.run(["git", "show", f"{rev}:{path}"], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"error: cannot read {path} at {rev}: {out.stderr.strip()}")
    return out.stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m faceattr.pipeline.verify", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rev", default="HEAD", help="the committed run to compare with (default: %(default)s)")
    parser.add_argument(
        "--tolerance",
        type=float,
        default=0.02,
        help="largest |difference| allowed on each headline test figure (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    verdict = compare(
        yaml.safe_load(_git_show(args.rev, "dvc.lock")),
        yaml.safe_load(Path("dvc.lock").read_text()),
        json.loads(_git_show(args.rev, str(JUDGED_METRICS))),
        json.loads(JUDGED_METRICS.read_text()),
        args.tolerance,
    )
    from faceattr.device import cpu_description

    print(f"verify: this machine: {cpu_description()}")
    print(
        f"verify: data stages: {'byte-identical' if not verdict.data_mismatches else 'DIFFER: ' + ', '.join(verdict.data_mismatches)}"
    )
    print(
        f"verify: model: {'bit-identical' if verdict.model_identical else 'differs from ' + args.rev + ' in its bits'}"
    )
    for key, old, new in verdict.metric_differences:
        print(f"verify:   {key:<24} {args.rev} {old:<10.6g} here {new:<10.6g} Δ {new - old:+.4f}")
    for failure in verdict.metric_failures:
        print(f"verify:   out of tolerance: {failure}")
    print(f"verify: {verdict.summary()}")
    return 0 if verdict.ok else 1


if __name__ == "__main__":
    sys.exit(main())
