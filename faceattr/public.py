"""A subpackage's public names, imported from their modules when first used.

Each folder's `__init__` lists its public surface with `exports(__name__, {name: module})`: `__all__`,
`from faceattr.model import load_model` and `dir()` work as usual, but nothing is imported until a name is
asked for, so `import faceattr.config` (the params check, every `--help`) never pulls in torch through
a sibling module. Code inside faceattr imports from the defining module, which keeps each DVC stage's
import closure exact (faceattr.pipeline.stage_deps).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any, Callable


def exports(package: str, names: dict[str, str]) -> tuple[list[str], Callable[[str], Any], Callable[[], list[str]]]:
    """`__all__`, `__getattr__` and `__dir__` for `package`, whose public `names` live in the given submodules (".module", relative to it)."""

    def __getattr__(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(import_module(names[name], package), name)

    def __dir__() -> list[str]:
        return sorted(names)

    return sorted(names), __getattr__, __dir__
