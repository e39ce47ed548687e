"""A DVC experiment with a readable name: `make exp S="alpha=0.25 train.lr=0.001"` runs
`dvc exp run -n a0p25-s3000-lr0p001 -S alpha=0.25 -S train.lr=0.001` in the workspace.

DVC names experiments at random (`dvc exp run -S alpha=0.25` gives something like `pasty-dado`); the name
made here says what the run varied (alpha and subset always, then each other key set, by its last part),
as the grid's names do, and gets `-2`, `-3`, … when taken. Any `dvc exp run` option may follow the
settings (`--temp`, `--queue`, `-f`); `-n NAME` chooses the name instead.

    python -m faceattr.pipeline.experiment alpha=0.25 train.lr=0.001 [--temp]
"""

from __future__ import annotations

import re
import subprocess
import sys
from typing import Any, Sequence

from faceattr.errors import FaceattrError
from faceattr.pipeline.dvc import dvc_command, exp_run_args, run_dvc


def short_value(value: Any) -> str:
    """0.25 → 0p25, [136, 112] → 136x112, 'imagenet' → imagenet: the characters a git ref name keeps."""
    if isinstance(value, (list, tuple)):
        return "x".join(short_value(v) for v in value)
    text = str(value).strip("[]'\" ").replace(".", "p").replace(",", "x").replace(" ", "")
    return re.sub(r"[^A-Za-z0-9]+", "", text)


def point_name(alpha: Any, subset: Any) -> str:
    """The grid's and every experiment's first parts: a0p25-s3000."""
    return f"a{short_value(alpha)}-s{short_value(subset)}"


def experiment_name(settings: Sequence[str], params: dict) -> str:
    """The name of the run that sets `settings` (`key=value`, DVC's -S syntax) on top of `params`."""
    given: dict[str, str] = {}
    for setting in settings:
        key, sep, value = setting.partition("=")
        if not sep or not key:
            raise FaceattrError(f"expected key=value (as for dvc exp run -S), got {setting!r}")
        given[key.lstrip("+~")] = value
    parts = [point_name(given.pop("alpha", params.get("alpha")), given.pop("subset", params.get("subset")))]
    parts += [f"{key.rsplit('.', 1)[-1].replace('_', '')}{short_value(value)}" for key, value in given.items()]
    return "-".join(parts)[:80].rstrip("-")


def unique(name: str, taken: set[str]) -> str:
    """`name`, or the first of name-2, name-3, … not taken."""
    candidate, k = name, 2
    while candidate in taken:
        candidate, k = f"{name}-{k}", k + 1
    return candidate


def existing_names() -> set[str]:
    """The names of this repository's experiments (DVC keeps each as a git ref under refs/exps)."""
    out = subprocess.run(["git", "for-each-ref", "--format=%(refname)", "refs/exps"], capture_output=True, text=True)
    return {ref.rsplit("/", 1)[-1] for ref in out.stdout.split()}


def arguments(argv: Sequence[str], params: dict, taken: set[str]) -> list[str]:
    """DVC's arguments for `argv` (settings, then any dvc options): `exp run -n NAME -S … OPTIONS`, named here
    unless the options name the run."""
    settings = [a for a in argv if "=" in a and not a.startswith("-")]
    options = [a for a in argv if a not in settings]
    named = "-n" in options or "--name" in options
    name = None if named else unique(experiment_name(settings, params), taken)
    return exp_run_args(settings, name, options)


def command(argv: Sequence[str], params: dict, taken: set[str]) -> list[str]:
    """The `dvc exp run` command line for `argv` (settings, then any dvc options), DVC found through this
    interpreter so it works without an activated virtual environment."""
    return dvc_command(*arguments(argv, params, taken))


def main(argv: Sequence[str] | None = None) -> int:
    from faceattr.config.params_file import load_params

    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = arguments(argv, load_params(), existing_names())
    except FaceattrError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(" ".join(dvc_command(*args)[1:]), file=sys.stderr, flush=True)
    return run_dvc(*args).returncode


if __name__ == "__main__":
    sys.exit(main())
