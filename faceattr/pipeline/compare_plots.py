"""`python -m faceattr.pipeline.compare_plots [REV ...] --out DIR`: `dvc plots diff` as PNGs, for offline use.

DVC's own HTML draws with vega loaded from a CDN, so offline it shows nothing. This asks DVC for the same
data (`dvc plots diff --json`, whose vega specs carry every data point in DVC 3), so revisions are resolved
exactly as DVC resolves them (git revisions, DVC experiment names, `workspace`), and draws with matplotlib:
DIR/curves.png (loss and mean accuracy per epoch, train and val, one colour per revision, the same y range
in the panels of one quantity) and DIR/confusion_<rev>.png per revision that has plots/confusion.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from faceattr.config.paths import CONFUSION_DIR, TRAIN_HISTORY
from faceattr.errors import FaceattrError
from faceattr.pipeline.dvc import run_dvc

HISTORY_COLUMNS = ("epoch", "train_loss", "val_loss", "train_acc", "val_acc")
DEFAULT_OUT = Path("dvc_plots/png")  # beside dvc plots' own dvc_plots/index.html (ignored by git)


def compared_revisions(revs: Sequence[str]) -> list[str]:
    """The revisions `dvc plots diff REVS` compares: with none, the workspace and HEAD; with one, the
    workspace and it; otherwise those given (each once, in order)."""
    wanted = list(dict.fromkeys(revs))
    if not wanted:
        return ["workspace", "HEAD"]
    if len(wanted) == 1 and wanted[0] != "workspace":
        return ["workspace", wanted[0]]
    return wanted


def dvc_plots_json(revs: Sequence[str], target: str | Path, cwd: str | Path = ".") -> dict[str, Any]:
    """`dvc plots diff --json --targets TARGET -- REVS`, parsed; DVC's error message if it fails."""
    proc = run_dvc("plots", "diff", "--json", "--targets", str(target), "--", *revs, cwd=cwd, capture=True)
    if proc.returncode != 0:
        message = " ".join(
            line.removeprefix("ERROR: ").strip()
            for line in proc.stderr.splitlines()
            if line.strip() and not line.startswith("WARNING")
        )
        raise FaceattrError(f"dvc plots diff {' '.join(revs)}: {message or f'exit status {proc.returncode}'}")
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise FaceattrError(f"dvc plots diff --json printed no JSON: {proc.stdout[:200]!r}") from None


def _rows_by_revision(plots: dict[str, Any]) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Data points of every vega plot in DVC's JSON, by plot name then revision."""
    out: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for name, entries in (plots.get("data") or {}).items():
        for entry in entries:
            content = entry.get("content")
            if entry.get("type") != "vega" or not isinstance(content, dict):
                continue
            for row in (content.get("data") or {}).get("values") or []:
                out.setdefault(name, {}).setdefault(str(row.get("rev")), []).append(row)
    return out


def histories(revs: Sequence[str], cwd: str | Path = ".") -> dict[str, pd.DataFrame]:
    """plots/train_history.csv of each compared revision (epoch, train/val loss and accuracy), in order."""
    compared = compared_revisions(revs)
    rows = _rows_by_revision(dvc_plots_json(compared, TRAIN_HISTORY, cwd)).get(str(TRAIN_HISTORY), {})
    out: dict[str, pd.DataFrame] = {}
    for rev in compared:
        if not rows.get(rev):
            raise FaceattrError(
                f"revision {rev!r} has no {TRAIN_HISTORY} (was the train stage run and its output committed there?)"
            )
        frame = pd.DataFrame(rows[rev])
        missing = [c for c in HISTORY_COLUMNS if c not in frame.columns]
        if missing:
            raise FaceattrError(f"revision {rev!r}: {TRAIN_HISTORY} lacks column(s) {', '.join(missing)}")
        frame = frame[list(HISTORY_COLUMNS)].apply(pd.to_numeric, errors="coerce")
        out[rev] = frame.drop_duplicates("epoch").sort_values("epoch").reset_index(drop=True)
    return out


def confusions(revs: Sequence[str], cwd: str | Path = ".") -> dict[str, dict[str, np.ndarray]]:
    """Per revision that has plots/confusion: attribute → 2×2 counts (rows actual, columns predicted)."""
    from faceattr.evaluate.figures import confusion_counts

    compared = compared_revisions(revs)
    by_plot = _rows_by_revision(dvc_plots_json(compared, CONFUSION_DIR, cwd))
    out: dict[str, dict[str, np.ndarray]] = {}
    for rev in compared:
        matrices = {}
        for name in sorted(by_plot):
            rows = by_plot[name].get(rev)
            if rows and {"actual", "predicted"} <= set(rows[0]):
                matrices[Path(name).stem] = confusion_counts(
                    [int(r["actual"]) for r in rows], [int(r["predicted"]) for r in rows]
                )
        if matrices:
            out[rev] = matrices
    return out


def file_label(rev: str) -> str:
    """A revision as a file-name part (HEAD~1 → HEAD_1, origin/main → origin_main)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", rev).strip("_") or "rev"


def write(revs: Sequence[str], out_dir: str | Path, cwd: str | Path = ".", confusion: bool = True) -> list[Path]:
    """Draw curves.png (and confusion_<rev>.png) for the compared revisions; return the paths written."""
    from faceattr.evaluate import figures

    out_dir = Path(out_dir)
    curves = histories(revs, cwd)
    written = [out_dir / "curves.png"]
    figures.compare_curves(curves, written[0])
    if confusion:
        for rev, matrices in confusions(revs, cwd).items():
            path = out_dir / f"confusion_{file_label(rev)}.png"
            figures.save_figure(figures.confusion_figure(matrices, title=f"Test confusion matrices: {rev}"), path)
            written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m faceattr.pipeline.compare_plots", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "revs",
        nargs="*",
        metavar="REV",
        help="git revisions, DVC experiment names or `workspace`, as for `dvc plots diff` "
        "(none: the workspace and HEAD)",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    parser.add_argument("--no-confusion", action="store_true", help="only curves.png")
    args = parser.parse_args(argv)
    try:
        for path in write(args.revs, args.out, confusion=not args.no_confusion):
            print(path)
    except FaceattrError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
