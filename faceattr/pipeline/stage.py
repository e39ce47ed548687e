"""The common entry point of every DVC stage: user errors become one line and a non-zero exit."""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path
from typing import Callable

from faceattr.atomic import sweep_stale
from faceattr.config.paths import OUTPUTS
from faceattr.errors import FaceattrError, shorten

# `dvc exp run -S` in the workspace writes its values into params.yaml and leaves them there when a stage fails.
# Git's stat cache can then call the file unchanged (same size, same mtime second): `git checkout params.yaml`
# says "Updated 0 paths". Touching the file makes git compare its content (tests/test_hostile_pipeline.py).
RESTORE_PARAMS_COMMAND = "touch params.yaml && git checkout -- params.yaml"
RESTORE_PARAMS_NOTE = (
    "note: dvc exp run leaves params.yaml as it ran it, -S values included; `" + RESTORE_PARAMS_COMMAND + "` "
    "restores git's version (a plain `git checkout params.yaml` can miss the change)"
)


def _refused_workspace_experiment() -> bool:
    """Whether check_params refused a `dvc exp run` in the workspace (not --temp or --queue, whose copy goes)."""
    root = os.environ.get("DVC_ROOT")
    return (
        os.environ.get("DVC_STAGE") == "check_params"
        and bool(os.environ.get("DVC_EXP_NAME"))
        and bool(root)
        and Path(root).resolve() == Path.cwd().resolve()
    )


def run_stage(main: Callable[[], None]) -> None:
    """Call a stage's main; a FaceattrError is printed as `error: …` (shortened) and exits with status 2."""
    try:
        sweep_stale(OUTPUTS)
        main()
    except FaceattrError as exc:
        print(f"error: {shorten(str(exc))}", file=sys.stderr)
        if _refused_workspace_experiment():
            print(RESTORE_PARAMS_NOTE, file=sys.stderr)
        sys.exit(2)
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        where = f" while writing {shorten(str(exc.filename))}" if exc.filename else ""
        print(
            f"error: no space left on the device{where}; no half-written file was left. Under `dvc repro`, "
            f"DVC removed this stage's earlier outputs before running it: free some space (or move DVC's cache: "
            f"dvc cache dir), then `dvc checkout` restores cached outputs and `dvc repro` runs the stage again.",
            file=sys.stderr,
        )
        sys.exit(28)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
