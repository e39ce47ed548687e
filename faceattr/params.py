"""Reading params.yaml, the single source of every variant of the pipeline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from faceattr.errors import FaceattrError

PARAMS_FILE = Path("params.yaml")


def load_params(path: str | Path = PARAMS_FILE) -> dict[str, Any]:
    """Load params.yaml; a missing file or invalid YAML is a clear error naming the file."""
    path = Path(path)
    if not path.is_file():
        raise FaceattrError(f"{path}: params file not found (run from the repository root)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise FaceattrError(f"{path}: invalid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise FaceattrError(f"{path}: expected a mapping of keys at the top level")
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
    """A dataset file named by `data.<key>`, relative to `data.dir`; None when the param is empty."""
    name = get(params, f"data.{key}")
    if name in (None, ""):
        return None
    return Path(get(params, "data.dir")) / str(name)
