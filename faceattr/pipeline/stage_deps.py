"""Each DVC stage's code dependencies, computed from its imports, so dvc.yaml cannot miss one.

A stage's `cmd` runs `python -m stages.X`; every module of this project that X imports, directly or through
another module, at the top or inside a function, can change the stage's outputs. DVC only reruns a stage when
a file listed under its `deps` changes, so a module missing from the list leaves stale outputs that
`dvc status` calls up to date. This module computes each stage's import closure from the source (`ast`, no
code is run) and compares it with dvc.yaml:

    python -m faceattr.pipeline.stage_deps          # lists what each stage misses or lists in excess; exit 1 if any
    python -m faceattr.pipeline.stage_deps --fix    # rewrites dvc.yaml's deps to the closures (comments kept)

tests/test_stage_deps.py runs the check. A package's `__init__.py` counts when it holds code; one with only a
docstring, dunder constants (`__version__`) and its list of public names (`faceattr.public.exports`, resolved
only when a name is asked of the package, which code inside faceattr never does: tests/test_layout.py) changes
no output and is left out, so a version bump or a new public name reruns nothing. So is `stages/__init__.py`
(ENVIRONMENT_CHECKS): it only refuses an interpreter that lacks the project's dependencies, and an output that
exists was made past it.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

import yaml

from faceattr.errors import FaceattrError

PACKAGES = ("faceattr", "stages")  # the project's own top-level packages
ENVIRONMENT_CHECKS = {"stages/__init__.py"}  # code that runs first but changes no output


def _imported_names(path: Path, module: str) -> set[str]:
    """Every dotted name that `path` (the module `module`) imports, relative imports resolved."""
    is_package = path.name == "__init__.py"
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = module.split(".")
                anchor = parts[: len(parts) - node.level + (1 if is_package else 0)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)  # `from pkg import module`
    return names


def _repository(root: Path | None) -> Path:
    """`root`, or the current directory: the repository whose dvc.yaml and code are checked."""
    root = Path.cwd() if root is None else root
    if not (root / "dvc.yaml").is_file():
        raise FaceattrError(f"{root}: no dvc.yaml here (run from the repository root or pass --root)")
    return root


def _module_file(root: Path, module: str) -> Path | None:
    candidate = root.joinpath(*module.split("."))
    if candidate.with_suffix(".py").is_file():
        return candidate.with_suffix(".py")
    if (candidate / "__init__.py").is_file():
        return candidate / "__init__.py"
    return None


def _holds_code(init: Path) -> bool:
    """False for an `__init__.py` with nothing but a docstring, dunder constants and its public names
    (`from faceattr.public import exports`; `__all__, __getattr__, __dir__ = exports(...)`)."""
    for node in ast.parse(init.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue
        if isinstance(node, ast.ImportFrom) and node.module == "faceattr.public":
            continue
        if isinstance(node, ast.Assign) and all(
            isinstance(t, ast.Name) and t.id.startswith("__")
            for target in node.targets
            for t in (target.elts if isinstance(target, ast.Tuple) else [target])
        ):
            continue
        return True
    return False


def import_closure(module: str, root: Path | None = None) -> set[str]:
    """The project files (POSIX paths relative to `root`, default: the current directory) that importing
    `module` can run."""
    root = _repository(root)
    seen: set[Path] = set()
    pending = [module]
    while pending:
        name = pending.pop()
        path = _module_file(root, name)
        if path is None or path in seen:
            continue
        seen.add(path)
        parts = name.split(".")
        pending.extend(".".join(parts[:i]) for i in range(1, len(parts)))  # parent packages run first
        if path.name == "__init__.py" and not _holds_code(path):
            continue  # its imports serve only its public names (faceattr.public), resolved on demand
        pending.extend(n for n in _imported_names(path, name) if n.split(".")[0] in PACKAGES)
    files = {path.relative_to(root).as_posix() for path in seen if path.name != "__init__.py" or _holds_code(path)}
    return files - ENVIRONMENT_CHECKS


def stage_module(cmd: str) -> str | None:
    """`stages.train` of `python -m stages.train`; None for a command that is not `python -m MODULE`."""
    words = cmd.split()
    if len(words) >= 3 and words[0] == "python" and words[1] == "-m":
        return words[2]
    return None


def _is_code(dep: str) -> bool:
    return dep.endswith(".py") and dep.split("/")[0] in PACKAGES


def compare(root: Path | None = None) -> dict[str, tuple[list[str], list[str]]]:
    """Per stage of dvc.yaml: (modules its imports need but deps misses, .py deps it never imports)."""
    root = _repository(root)
    stages = yaml.safe_load((root / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    result = {}
    for name, stage in stages.items():
        module = stage_module(stage["cmd"])
        if module is None:
            continue
        closure = import_closure(module, root)
        listed = {dep for dep in stage.get("deps", []) if _is_code(dep)}
        result[name] = (sorted(closure - listed), sorted(listed - closure))
    return result


def fix(root: Path | None = None) -> None:
    """Rewrite the code lines of each stage's deps in dvc.yaml to its import closure (stages/ first, then
    path order), where the first code line was (or after the last dep); other lines, comments and indentation
    kept. A stage with no `deps:` key gets none: add one by hand."""
    root = _repository(root)
    path = root / "dvc.yaml"
    closures = {
        name: sorted(import_closure(module, root), key=lambda p: (not p.startswith("stages/"), p))
        for name, stage in yaml.safe_load(path.read_text(encoding="utf-8"))["stages"].items()
        if (module := stage_module(stage["cmd"])) is not None
    }
    out: list[str] = []
    block: list[str] = []  # the item lines of the deps block being read
    stage = None

    def flush() -> None:
        items = [line for line in block if line.strip().startswith("- ")]
        if stage in closures and items:
            code = [
                i
                for i, line in enumerate(block)
                if line.strip().startswith("- ") and _is_code(line.strip()[2:].split("#")[0].strip())
            ]
            at = code[0] if code else max(i for i, line in enumerate(block) if line.strip().startswith("- ")) + 1
            prefix = items[0][: items[0].index("-")]
            kept = [line for i, line in enumerate(block) if i not in code]
            at -= sum(1 for i in code if i < at)
            block[:] = kept[:at] + [f"{prefix}- {dep}\n" for dep in closures[stage]] + kept[at:]
        out.extend(block)
        block.clear()

    in_deps = False
    for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
        stripped, indent = line.strip(), len(line) - len(line.lstrip())
        if in_deps and stripped and indent <= 4:
            flush()
            in_deps = False
        if in_deps:
            block.append(line)
            continue
        if indent == 2 and stripped.endswith(":"):
            stage = stripped[:-1]
        in_deps = indent == 4 and stripped == "deps:"
        out.append(line)
    if in_deps:
        flush()
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(out), encoding="utf-8")
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fix", action="store_true", help="rewrite dvc.yaml's deps to the import closures")
    parser.add_argument("--root", type=Path, default=None, help="the repository (default: the current directory)")
    args = parser.parse_args(argv)
    try:
        return _check(args.root, args.fix)
    except FaceattrError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _check(root: Path | None, fix_deps: bool) -> int:
    if fix_deps:
        fix(root)
    problems = 0
    for stage, (missing, extra) in compare(root).items():
        for dep in missing:
            print(f"dvc.yaml: stage {stage} imports {dep}, which its deps do not list")
        for dep in extra:
            print(f"dvc.yaml: stage {stage} lists {dep}, which it never imports")
        problems += len(missing) + len(extra)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
