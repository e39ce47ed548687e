"""Named recipes: params.yaml overrides kept in `recipes/*.yaml`, run as one DVC experiment.

    faceattr recipe recipes/celeba-seed-halfres.yaml --data-dir /path/to/celeba
    faceattr recipe recipes/celeba-seed-halfres.yaml --data-dir /path/to/celeba --print
    faceattr recipe recipes/celeba-40-identity.yaml --data-dir /path/to/celeba -S alpha=0.5

(`python -m faceattr.pipeline.recipe …` is the same command.)

A recipe file holds `description` and `overrides`, a mapping of dotted params keys to values (and may
start from another recipe's with `extends: other.yaml`). The runner
turns them into `dvc exp run --temp -n <name> -S key=value …` (quoted for DVC's Hydra grammar), so the
run is an ordinary DVC experiment and MLflow run; `--print` shows that command instead of running it.
DVC runs as `python -m dvc` of the interpreter running this, so the virtual environment need not be
activated (`.venv/bin/faceattr recipe …` works with DVC off PATH).
`data.dir` comes from `--data-dir`, since only the user knows where their copy of CelebA lives; further
`-S key=value` arguments pass through to DVC after the recipe's own, so they win.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import yaml

from faceattr.config.params_file import load_params, safe_load_bounded
from faceattr.errors import FaceattrError
from faceattr.pipeline.dvc import exp_run_args, run_dvc, typed_command


def load_recipe(path: str | Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A recipe's overrides (dotted key → value); a malformed file is an error naming it.

    `extends: other.yaml` (relative to the recipe's folder) starts from another recipe's overrides, so a
    variant lists only what it changes; its own overrides win.
    """
    path = Path(path)
    if path.resolve() in _seen:
        raise FaceattrError(f"{path}: recipes extend each other in a loop")
    try:
        # bounded as params.yaml is: a few hundred bytes of nested aliases would otherwise expand to gigabytes
        raw = safe_load_bounded(path.read_text(encoding="utf-8"), str(path))
    except (FileNotFoundError, IsADirectoryError):
        raise FaceattrError(f"{path}: recipe not found") from None
    except OSError as exc:  # a name too long, no permission
        raise FaceattrError(f"{path}: cannot read the recipe ({exc.strerror or type(exc).__name__})") from None
    except yaml.YAMLError as exc:
        raise FaceattrError(f"{path}: invalid YAML: {' '.join(str(exc).split())[:300]}") from None
    except UnicodeDecodeError as exc:
        raise FaceattrError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except ValueError as exc:  # a date such as 2024-13-01; a whole number past Python's 4300-digit limit
        raise FaceattrError(f"{path}: invalid YAML: {' '.join(str(exc).split(';')[0].split())[:300]}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("overrides"), dict) or not raw["overrides"]:
        raise FaceattrError(f"{path}: expected a mapping with `overrides:` (dotted params keys → values)")
    base = raw.get("extends")
    if base is None:
        return raw["overrides"]
    if not isinstance(base, str) or not base:
        raise FaceattrError(f"{path}: `extends:` must name another recipe file")
    return {**load_recipe(path.parent / base, (*_seen, path.resolve())), **raw["overrides"]}


def hydra_value(value: Any) -> str:
    """A value in DVC's -S (Hydra) grammar: strings quoted, so '{size}' and paths stay literal."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ",".join(hydra_value(v) for v in value) + "]"
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    raise FaceattrError(f"recipe value {value!r}: expected a number, string, boolean or list")


def apply_overrides(params: dict, overrides: dict[str, Any]) -> dict:
    """params.yaml with the overrides applied (for checking a recipe against the schema)."""
    out = yaml.safe_load(yaml.safe_dump(params))
    for key, value in overrides.items():
        node = out
        *groups, leaf = key.split(".")
        for group in groups:
            node = node.setdefault(group, {})
        node[leaf] = value
    return out


def arguments(
    recipe: str | Path, data_dir: str | None, name: str | None = None, extra: Sequence[str] = ()
) -> list[str]:
    """DVC's arguments for the recipe's experiment: `exp run --temp -n NAME -S key=value …`, the recipe's
    overrides first, then `extra` settings (so they win)."""
    overrides = dict(load_recipe(recipe))
    if data_dir:
        overrides["data.dir"] = str(Path(data_dir).resolve())  # absolute: --temp runs elsewhere
    name = name or f"{Path(recipe).stem}-{time.strftime('%m%d%H%M%S')}"
    settings = [f"{key}={hydra_value(value)}" for key, value in overrides.items()]
    return exp_run_args([*settings, *extra], name, leading=["--temp"])


def command(recipe: str | Path, data_dir: str | None, name: str | None = None, extra: Sequence[str] = ()) -> list[str]:
    """The recipe's `dvc exp run …` command as a person types it (what --print shows)."""
    return typed_command(*arguments(recipe, data_dir, name, extra))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipe", help="a recipes/*.yaml file")
    parser.add_argument("--data-dir", help="the folder of CelebA's files (sets data.dir)")
    parser.add_argument("-n", "--name", help="experiment name (default: the recipe's name and a time stamp)")
    parser.add_argument(
        "-S",
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="one more params override, as `dvc exp run -S` takes it (after the recipe's)",
    )
    parser.add_argument("--print", action="store_true", help="print the dvc command instead of running it")


def run(args: argparse.Namespace) -> int:
    """Run (or print) the recipe's experiment; DVC's exit status. A bad recipe raises FaceattrError."""
    dvc_args = arguments(args.recipe, args.data_dir, args.name, args.set)
    shown = shlex.join(typed_command(*dvc_args))
    if args.print:
        print(shown)
        return 0
    if Path("params.yaml").is_file():  # DVC expands params.yaml's aliases itself: refuse a YAML bomb first
        load_params("params.yaml", check=False)
    print(f"running: {shown}", file=sys.stderr, flush=True)
    return run_dvc(*dvc_args).returncode  # DVC of this interpreter


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m faceattr.pipeline.recipe",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    try:
        sys.exit(run(parser.parse_args(argv)))
    except FaceattrError as exc:
        sys.exit(f"error: {exc}")


if __name__ == "__main__":
    main()
