"""The library's layout holds: folders by concern with a stated public surface, a small core at the top,
one module that starts DVC, and code that imports each name from the module defining it."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "faceattr"
CORE = {"__init__.py", "atomic.py", "device.py", "digest.py", "errors.py", "file_types.py", "progress.py", "public.py"}
SUBPACKAGES = sorted(
    p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file() and p.name not in ("__pycache__",)
)


def _sources(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py") if "__pycache__" not in p.parts)


def test_only_the_small_core_stays_at_the_top():
    assert {p.name for p in PACKAGE.glob("*.py")} == CORE


@pytest.mark.parametrize("name", SUBPACKAGES)
def test_every_subpackage_says_what_it_is_for_and_its_public_names_resolve(name):
    package = importlib.import_module(f"faceattr.{name}")
    assert (package.__doc__ or "").strip(), f"faceattr/{name}/__init__.py: no docstring"
    if name == "cli" or hasattr(package, "__all__"):
        assert package.__all__, f"faceattr/{name}: an empty __all__"
        for public in package.__all__:
            assert getattr(package, public) is not None, f"faceattr.{name}.{public}"
        with pytest.raises(AttributeError):
            getattr(package, "no_such_name")


def test_only_data_synth_keeps_its_own_init():
    """Every folder's __init__ is the public-names list (faceattr.public), except synth's, a generator's API."""
    for init in PACKAGE.glob("*/__init__.py"):
        assert "from faceattr.public import exports" in init.read_text(encoding="utf-8"), init


def _public_names() -> dict[str, set[str]]:
    return {f"faceattr.{name}": set(importlib.import_module(f"faceattr.{name}").__all__) for name in SUBPACKAGES}


def test_code_imports_each_name_from_the_module_that_defines_it():
    """A package's public names are for users; faceattr and the stages import from the defining module,
    which keeps each stage's import closure exact (faceattr.pipeline.stage_deps) and --help light."""
    public = _public_names()
    found = []
    for path in _sources("faceattr", "stages"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module in public:
                names = {a.name for a in node.names} & public[node.module]
                found += [f"{path.relative_to(ROOT)}:{node.lineno}: from {node.module} import {n}" for n in names]
    assert not found, "\n".join(found)


def test_no_module_re_exports_a_name_for_others():
    """A name a module imports only to hand on (a re-export shim) is imported from its home instead."""
    shims = []
    modules = {}
    for path in _sources("faceattr"):
        rel = path.relative_to(ROOT).with_suffix("")
        modules[".".join(rel.parts)] = path
    for path in _sources("faceattr", "stages", "tests", "benchmarks"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.ImportFrom) and node.module in modules):
                continue
            if modules[node.module].name == "__init__.py":
                continue
            home = ast.parse(modules[node.module].read_text(encoding="utf-8"))
            defined = {
                n.name for n in home.body if isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
            }
            defined |= {
                t.id
                for n in home.body
                if isinstance(n, (ast.Assign, ast.AnnAssign))
                for t in (n.targets if isinstance(n, ast.Assign) else [n.target])
                if isinstance(t, ast.Name)
            }
            imported = {
                (a.asname or a.name) for n in home.body if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names
            }
            for alias in node.names:
                if alias.name in imported and alias.name not in defined:
                    shims.append(f"{path.relative_to(ROOT)}:{node.lineno}: {alias.name} via {node.module}")
    assert not shims, "\n".join(shims)


def test_one_module_starts_dvc():
    starters = [
        f"{p.relative_to(ROOT)}:{i}"
        for p in _sources("faceattr")
        for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r'"dvc"', line)
    ]
    assert starters and {s.split(":")[0] for s in starters} == {"faceattr/pipeline/dvc.py"}, starters


def test_each_subcommand_lives_in_the_folder_it_belongs_to():
    from faceattr.cli.entry import COMMANDS

    for name, module in COMMANDS.items():
        loaded = importlib.import_module(module)
        assert callable(getattr(loaded, f"add_arguments_{name}")) and callable(getattr(loaded, f"run_{name}"))
        assert module.split(".")[1] in SUBPACKAGES and module.endswith(".command")
