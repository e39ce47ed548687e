"""Helpers for end-to-end tests: a temporary git clone of the working tree, and running real commands."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TINY = {
    "alpha": 1.0,
    "subset": 60,
    "synth": {"count": 400},  # enough that extraction lasts long enough to be interrupted half-way
    "partition": {"sizes": [30, 60]},
    "train": {"image_size": [32, 32], "epochs": 2, "batch_size": 16},
}


def run(args: list[str], cwd: Path, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run a command with the project's venv first on PATH and the default MLflow store (unless env sets one)."""
    base = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1"}
    base.pop("MLFLOW_TRACKING_URI", None)
    env = {**base, **(env or {})}
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for k, v in override.items():
        out[k] = merge(base.get(k, {}), v) if isinstance(v, dict) else v
    return out


def make_clone(dest: Path, overrides: dict) -> Path:
    """Copy the working tree (tracked and untracked-but-not-ignored files) into a fresh git repo."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=REPO, capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        src = REPO / rel
        if src.is_file() and not rel.startswith(("dvc.lock", "metrics/", "plots/")):
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    params = yaml.safe_load((dest / "params.yaml").read_text())
    (dest / "params.yaml").write_text(yaml.safe_dump(merge(params, overrides), sort_keys=False))
    run(["git", "init", "-q", "-b", "main"], dest)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "add", "-A"], dest)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init"], dest)
    run(["git", "config", "user.name", "faceattr test"], dest)
    run(["git", "config", "user.email", "test@faceattr.invalid"], dest)
    return dest
