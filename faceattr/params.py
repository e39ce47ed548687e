"""Reading params.yaml, the single source of every variant of the pipeline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from faceattr.errors import FaceattrError

PARAMS_FILE = Path("params.yaml")


def load_params(path: str | Path = PARAMS_FILE, check: bool = True) -> dict[str, Any]:
    """Load params.yaml and check it against the schema; every problem is a clear error naming the key."""
    path = Path(path)
    if not path.is_file():
        raise FaceattrError(f"{path}: params file not found (run from the repository root)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise FaceattrError(f"{path}: invalid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise FaceattrError(f"{path}: expected a mapping of keys at the top level")
    if check:
        from faceattr.schema import validate

        validate(data)
    return data


def get(params: dict[str, Any], key: str) -> Any:
    """Look up a dotted key such as 'train.epochs', naming it when it is missing."""
    node: Any = params
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise FaceattrError(f"params.yaml: missing key {key!r}")
        node = node[part]
    return node


def data_file(params: dict[str, Any], key: str) -> Path | None:
    """A dataset file named by `data.<key>`, relative to `data.dir`; None when the param is empty.

    A named file that does not exist is an error naming both params.
    """
    name = get(params, f"data.{key}")
    if name in (None, ""):
        return None
    path = Path(get(params, "data.dir")) / str(name)
    if not path.exists():
        raise FaceattrError(f"params.yaml: data.{key} = {name!r} does not exist under data.dir = "
                            f"{get(params, 'data.dir')!r} (looked for {path})")
    return path
