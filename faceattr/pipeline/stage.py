"""The common entry point of every DVC stage: user errors become one line and a non-zero exit."""

from __future__ import annotations

import errno
import sys
from typing import Callable

from faceattr.atomic import sweep_stale
from faceattr.config.paths import OUTPUTS
from faceattr.errors import FaceattrError


def run_stage(main: Callable[[], None]) -> None:
    """Call a stage's main; a FaceattrError is printed as `error: …` and exits with status 2."""
    try:
        sweep_stale(OUTPUTS)
        main()
    except FaceattrError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        where = f" while writing {exc.filename}" if exc.filename else ""
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
