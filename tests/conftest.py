"""Shared fixtures: small generated images and label files (never real CelebA)."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("DVC_NO_ANALYTICS", "1")
from pipeline_helpers import REPO  # noqa: E402,F401  (re-exported for tests)


def jpeg_bytes(seed: int = 0, size: tuple[int, int] = (24, 30), fmt: str = "JPEG") -> bytes:
    rng = np.random.default_rng(seed)
    img = Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def write_zip(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return path


@pytest.fixture
def make_zip(tmp_path):
    def _make(entries: dict[str, bytes], name: str = "images.zip") -> Path:
        return write_zip(tmp_path / name, entries)

    return _make


@pytest.fixture(scope="session")
def repo(tmp_path_factory) -> Path:
    """A temporary clone on the tiny config after `dvc repro`, with the results committed as HEAD."""
    from pipeline_helpers import TINY, make_clone, run

    clone = make_clone(tmp_path_factory.mktemp("pipeline"), TINY)
    run(["dvc", "repro"], clone)
    run(["git", "add", "-A"], clone)
    run(["git", "commit", "-qm", "baseline"], clone)
    return clone
