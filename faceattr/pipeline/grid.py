"""Reproduce the published MobileNetV2 project's grid as DVC experiments and tabulate the results.

The grid: alpha 0.25 / 0.5 / 1.0 on subset 1000, and subsets 1000 / 2000 / 3000 at alpha 1.0 (five runs,
since alpha 1.0 on 1000 is shared). Each point is queued with `dvc exp run --queue` and run in DVC's
temporary workspaces, so the workspace is left as it was; every run is logged to the same MLflow store.

    faceattr grid                       # on the current params.yaml (or make grid; python -m faceattr.pipeline.grid)
    faceattr grid -S train.epochs=30    # extra overrides for every point

DVC runs as `python -m dvc` of the interpreter running this: the virtual environment need not be activated.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from faceattr.atomic import write_text
from faceattr.pipeline import experiment
from faceattr.pipeline.dvc import exp_run_args, run_dvc

GRID: tuple[tuple[float, int], ...] = ((0.25, 1000), (0.5, 1000), (1.0, 1000), (1.0, 2000), (1.0, 3000))


def point_name(token: str, alpha: float, subset: int) -> str:
    return f"grid-{token}-{experiment.point_name(alpha, subset)}"


def dvc(*args: str) -> str:
    """`dvc ARGS`'s output; exits with DVC's message when it fails."""
    proc = run_dvc(*args, capture=True)
    if proc.returncode != 0:
        sys.exit(f"error: dvc {' '.join(args)} failed:\n{proc.stderr or proc.stdout}")
    return proc.stdout


def collect(names: list[str]) -> dict[str, dict]:
    """Params and metrics of the named experiments, from `dvc exp show --json`."""
    found: dict[str, dict] = {}
    for baseline in json.loads(dvc("exp", "show", "--json")):
        for exp in baseline.get("experiments") or []:
            for rev in exp.get("revs") or []:
                if rev.get("name") in names:
                    data = rev["data"]
                    found[rev["name"]] = {
                        "params": data["params"]["params.yaml"]["data"],
                        "eval": (data.get("metrics") or {}).get("metrics/eval.json", {}).get("data", {}),
                        "train": (data.get("metrics") or {}).get("metrics/train.json", {}).get("data", {}),
                    }
    return found


def table(rows: list[tuple[str, float, int, dict]], overrides: list[str]) -> str:
    lines = [
        "# Published-project grid (MobileNetV2)",
        "",
        f"Reproduce with `faceattr grid{''.join(' -S ' + o for o in overrides)}`.",
        "",
        "| experiment | alpha | subset | test mean accuracy | mean balanced accuracy | majority baseline | best epoch |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, alpha, subset, res in rows:
        e, t = res.get("eval", {}), res.get("train", {})

        def fmt(v):
            return f"{v:.4f}" if isinstance(v, (int, float)) else "n/a"

        lines.append(
            f"| {name} | {alpha} | {subset} | {fmt(e.get('mean_accuracy'))} | "
            f"{fmt(e.get('mean_balanced_accuracy'))} | {fmt(e.get('baseline_mean_accuracy'))} | "
            f"{t.get('best_epoch', 'n/a')} |"
        )
    return "\n".join(lines) + "\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-S",
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a params.yaml override applied to every grid point (repeatable)",
    )
    parser.add_argument("--out", default="metrics/grid.md", help="where to write the table (default: %(default)s)")
    parser.add_argument("-j", "--jobs", type=int, default=1, help="experiments run at a time (default: 1)")


def run(args: argparse.Namespace) -> int:
    """Queue and run the grid, write the table; 1 when a point failed."""
    token = time.strftime("%m%d%H%M%S")
    names = []
    for alpha, subset in GRID:
        name = point_name(token, alpha, subset)
        sets = [f"alpha={alpha}", f"subset={subset}", *args.overrides]
        dvc(*exp_run_args(sets, name, leading=["--queue"]))
        names.append(name)
        print(f"queued {name}: {' '.join(sets)}", flush=True)
    print(f"running {len(names)} experiments ({args.jobs} at a time)…", flush=True)
    run_dvc("exp", "run", "--run-all", "-j", str(args.jobs))
    results = collect(names)
    failed = [n for n in names if n not in results or not results[n]["eval"]]
    rows = [(n, a, s, results.get(n, {})) for n, (a, s) in zip(names, GRID)]
    text = table(rows, args.overrides)
    write_text(args.out, text)
    print(text)
    if failed:
        print(
            f"error: {len(failed)} grid point(s) failed: {', '.join(failed)} (see `dvc queue logs <name>`)",
            file=sys.stderr,
        )
        return 1
    return 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m faceattr.pipeline.grid",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    sys.exit(run(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
