"""The one place that knows how DVC is started, and how a `dvc exp run` command line is put together.

DVC runs as `python -m dvc` of the interpreter running faceattr, so it is found without an activated
virtual environment (`.venv/bin/faceattr …` works with DVC off PATH). Every module that runs DVC (make exp,
recipes, the grid, make show, compare_plots, cache_check) goes through `run_dvc`, and every `dvc exp run`
line is built by `exp_run_args`, so the -n/-S layout is the same everywhere. Light: no torch.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Mapping, Sequence

_PROGRAM = "dvc"


def dvc_command(*args: str) -> list[str]:
    """The command line that runs `dvc ARGS` with this interpreter's DVC: [python, -m, dvc, *args]."""
    return [sys.executable, "-m", _PROGRAM, *args]


def typed_command(*args: str) -> list[str]:
    """`dvc ARGS` as a person types it (["dvc", *args]), for showing a command; run it with run_dvc(*args)."""
    return [_PROGRAM, *args]


def run_dvc(
    *args: str,
    cwd: str | Path | None = None,
    capture: bool = False,
    check: bool = False,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """Run `dvc ARGS` (this interpreter's DVC) in `cwd`; with `capture`, its stdout and stderr come back as
    text. DVC's exit status is the caller's to judge unless `check` (then a failure raises
    CalledProcessError)."""
    return subprocess.run(dvc_command(*args), cwd=cwd, capture_output=capture, text=capture, check=check, env=env)


def exp_run_args(
    settings: Sequence[str], name: str | None = None, options: Sequence[str] = (), leading: Sequence[str] = ()
) -> list[str]:
    """DVC's arguments for one experiment: ["exp", "run", *leading, "-n", NAME, "-S", s1, "-S", s2, …,
    *options]: `leading` options (`--temp`, `--queue`) before the name, `options` passed through after the
    settings; no -n when `name` is None (DVC then picks one, or `options` gives it)."""
    named = [] if name is None else ["-n", name]
    return ["exp", "run", *leading, *named, *[arg for setting in settings for arg in ("-S", setting)], *options]
