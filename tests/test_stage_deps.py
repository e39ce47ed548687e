"""dvc.yaml lists every module each stage imports, so a code change can never leave outputs DVC calls fresh."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import yaml
from helpers import REPO

from faceattr.pipeline.stage_deps import compare, fix, import_closure


def test_every_stage_lists_exactly_the_modules_it_imports():
    problems = {stage: lists for stage, lists in compare(REPO).items() if lists != ([], [])}
    assert not problems, (
        f"dvc.yaml's deps differ from the stages' imports (missing, never imported): {problems}; "
        f"`python -m faceattr.pipeline.stage_deps --fix` rewrites them"
    )


def test_the_closures_follow_imports_the_stages_really_need():
    # evaluate normalises images with faceattr/data/decoding.py through the model's inference path, and rebuilds the
    # network from faceattr/model/model_file.py: the two files issue 19 found missing
    evaluate = import_closure("stages.evaluate", REPO)
    assert {
        "faceattr/model/model_file.py",
        "faceattr/data/decoding.py",
        "faceattr/evaluate/inference.py",
        "stages/evaluate.py",
    } <= evaluate
    assert "faceattr/data/partition.py" in import_closure("stages.train", REPO)
    assert "faceattr/cli/entry.py" not in evaluate and "faceattr/serve/app.py" not in evaluate
    assert "faceattr/__init__.py" not in evaluate  # a docstring and __version__: changes no output


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


def _toy_repo(root: Path) -> None:
    _write(
        root,
        {
            "stages/__init__.py": "",
            "stages/go.py": """\
            from faceattr import direct

            def main():
                import faceattr.lazy  # imported inside a function: still the stage's code
            """,
            "faceattr/__init__.py": '"""A package."""\n__version__ = "1"\n',
            "faceattr/direct.py": "from .sub import helper\n",
            "faceattr/lazy.py": "from . import leaf\n",
            "faceattr/leaf.py": "import os\n",
            "faceattr/unused.py": "",
            "faceattr/sub/__init__.py": "REGISTRY = {}\n",  # code: it counts
            "faceattr/sub/helper.py": "from ..leaf import *\n",
            "dvc.yaml": """\
            stages:
              go:
                cmd: python -m stages.go
                deps:
                  - data/input.csv   # the data, kept
                  - stages/go.py
                  - faceattr/unused.py
                outs:
                  - out.txt
              again:
                cmd: python -m stages.go --twice
                deps:
                  - data/input.csv

                outs:
                  - again.txt
              shell:
                cmd: echo hi > hi.txt
                outs:
                  - hi.txt
            """,
        },
    )


def test_a_missing_or_stale_module_is_reported_and_fix_rewrites_only_the_code_lines(tmp_path):
    _toy_repo(tmp_path)
    expected = {
        "stages/go.py",
        "faceattr/direct.py",
        "faceattr/lazy.py",
        "faceattr/leaf.py",
        "faceattr/sub/__init__.py",
        "faceattr/sub/helper.py",
    }
    assert import_closure("stages.go", tmp_path) == expected
    assert compare(tmp_path) == {
        "go": (sorted(expected - {"stages/go.py"}), ["faceattr/unused.py"]),
        "again": (sorted(expected), []),
    }

    result = subprocess.run(
        [sys.executable, "-m", "faceattr.pipeline.stage_deps", "--root", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert result.returncode == 1
    assert "dvc.yaml: stage go imports faceattr/lazy.py, which its deps do not list" in result.stdout
    assert "dvc.yaml: stage go lists faceattr/unused.py, which it never imports" in result.stdout

    fix(tmp_path)
    assert compare(tmp_path) == {"go": ([], []), "again": ([], [])}
    text = (tmp_path / "dvc.yaml").read_text()
    assert "- data/input.csv   # the data, kept" in text  # comments and data deps stay
    deps = yaml.safe_load(text)["stages"]["go"]["deps"]
    assert deps == [
        "data/input.csv",
        "stages/go.py",
        "faceattr/direct.py",
        "faceattr/lazy.py",
        "faceattr/leaf.py",
        "faceattr/sub/__init__.py",
        "faceattr/sub/helper.py",
    ]
    assert yaml.safe_load(text)["stages"]["again"]["deps"] == deps  # code added after the data
    assert yaml.safe_load(text)["stages"]["shell"] == {"cmd": "echo hi > hi.txt", "outs": ["hi.txt"]}
    again = subprocess.run(
        [sys.executable, "-m", "faceattr.pipeline.stage_deps", "--root", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert again.returncode == 0 and again.stdout == ""
