"""Reading params.yaml, the single source of every variant of the pipeline, safely (faceattr.config.schema types it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from faceattr.errors import FaceattrError

PARAMS_FILE = Path("params.yaml")


def load_params(path: str | Path = PARAMS_FILE, check: bool = True) -> dict[str, Any]:
    """Load params.yaml as plain YAML values; with `check`, validated by faceattr.config.schema (load_config gives the
    typed config). Every problem is a one-line error naming the file or the key."""
    path = Path(path)
    if not path.is_file():
        raise FaceattrError(f"{path}: params file not found (run from the repository root)")
    try:
        data = safe_load_bounded(path.read_text(encoding="utf-8"), str(path))
    except yaml.YAMLError as exc:
        raise FaceattrError(f"{path}: invalid YAML: {' '.join(str(exc).split())[:300]}") from None
    except UnicodeDecodeError as exc:
        raise FaceattrError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except ValueError as exc:  # a date such as 2024-13-01; a whole number past Python's 4300-digit limit
        raise FaceattrError(f"{path}: invalid YAML: {' '.join(str(exc).split(';')[0].split())[:300]}") from None
    if not isinstance(data, dict):
        raise FaceattrError(f"{path}: expected a mapping of keys at the top level")
    if check:
        from faceattr.config.schema import validate

        validate(data)
    return data


MAX_EXPANDED_NODES = 100_000  # params.yaml has ~100 values; a few KB of nested aliases expand to billions


def safe_load_bounded(text: str, source: str) -> Any:
    """yaml.safe_load, refusing a document whose aliases would expand past MAX_EXPANDED_NODES values.

    PyYAML shares an aliased value instead of copying it, so loading a "billion laughs" file is cheap,
    but anything that walks the result (the schema check, an error message, MLflow's param logging)
    would visit every expanded value. The size is counted on the composed node graph, memoised per node,
    so the count itself stays linear in the file.
    """
    loader = yaml.SafeLoader(text)
    try:
        return _compose_bounded(loader, source)
    except RecursionError:  # the composer and constructor recurse once per level of nesting
        raise FaceattrError(f"{source}: nested too deeply to be a params file") from None
    finally:
        loader.dispose()


def _compose_bounded(loader: yaml.SafeLoader, source: str) -> Any:
    root = loader.get_single_node()
    if root is None:
        return None
    sizes: dict[int, int] = {}

    def expanded(node: yaml.Node) -> int:
        if id(node) in sizes:
            return sizes[id(node)]
        sizes[id(node)] = MAX_EXPANDED_NODES + 1  # a cycle (recursive alias) counts as too large
        if isinstance(node, yaml.MappingNode):
            total = 1 + sum(expanded(k) + expanded(v) for k, v in node.value)
        elif isinstance(node, yaml.SequenceNode):
            total = 1 + sum(expanded(v) for v in node.value)
        else:
            total = 1
        sizes[id(node)] = min(total, MAX_EXPANDED_NODES + 1)
        return sizes[id(node)]

    if expanded(root) > MAX_EXPANDED_NODES:
        # Name the line of the first top-level key whose value alone is too large, when there is one.
        entries = root.value if isinstance(root, yaml.MappingNode) else []
        line = next(
            (f":{key.start_mark.line + 1}" for key, value in entries if expanded(value) > MAX_EXPANDED_NODES), ""
        )
        raise FaceattrError(
            f"{source}{line}: its anchors and aliases expand to more than {MAX_EXPANDED_NODES:,} values "
            f"(a YAML bomb?); refused. Write the values out instead of aliasing them"
        )
    return loader.construct_document(root)


def main(argv: list[str] | None = None) -> int:
    """`python -m faceattr.config.params_file [params.yaml]`: read the file as check_params does, bounded, so
    `make repro` refuses a YAML bomb before DVC (which expands every alias itself) reads it. Silent when fine."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    try:
        load_params(args[0] if args else PARAMS_FILE, check=False)
    except FaceattrError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
