"""`make show`: `dvc exp show` narrowed to what people compare, so it fits a 160-column terminal.

Every key of params.yaml is a column of `dvc exp show` (about 60), so the full table is far wider than a
terminal; this view keeps the experiment's name and date, the keys runs vary most (alpha, subset, seed,
and learning rate) and the headline metrics. Extra arguments go to `dvc exp show`
(`make show ARGS="--all-commits --sort-by mean_accuracy"`).
"""

from __future__ import annotations

import sys
from typing import Sequence

from faceattr.pipeline.dvc import dvc_command, run_dvc

PARAMS = ("alpha", "subset", "seed", "train.lr")
METRICS = ("mean_accuracy", "mean_balanced_accuracy", "mean_f1", "mean_roc_auc")


def arguments(extra: Sequence[str] = ()) -> list[str]:
    """DVC's arguments for this view: `exp show` keeping the headline columns, then `extra`."""
    keep = "|".join(["Experiment", "Created", "State", *PARAMS, *METRICS]).replace(".", r"\.")
    return ["exp", "show", "--no-pager", "--drop", ".*", "--keep", f"^({keep})$", "--precision", "4", *extra]


def command(extra: Sequence[str] = ()) -> list[str]:
    """The `dvc exp show` command line of this view (DVC found through this interpreter)."""
    return dvc_command(*arguments(extra))


def main(argv: Sequence[str] | None = None) -> int:
    """Show the view (extra arguments go to `dvc exp show`); DVC's exit status."""
    return run_dvc(*arguments(list(sys.argv[1:] if argv is None else argv))).returncode


if __name__ == "__main__":
    sys.exit(main())
