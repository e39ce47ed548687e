"""Shared fixtures: small generated images and label files (never real CelebA)."""

from __future__ import annotations

import copy
import io
import os
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

os.environ.setdefault("DVC_NO_ANALYTICS", "1")
if os.environ.get("PYTEST_XDIST_WORKER"):  # `make test` runs one worker per core: one torch thread each
    import torch

    torch.set_num_threads(1)
from pipeline_helpers import REPO  # noqa: E402,F401  (re-exported for tests)


def small_model(path: Path, attributes: list[str]) -> Path:
    """A MobileNetV2 (alpha 0.25, 64×52 input) with batch-norm statistics from one batch of noise: freshly
    initialised, its signal fades to nothing in eval mode (every probability 0.5); these statistics make its
    answers depend on the image, so tests can compare them."""
    import torch

    from faceattr.models import ModelSpec, build_model, save_model

    torch.manual_seed(0)
    model = build_model("mobilenet_v2", len(attributes), alpha=0.25)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = None
    with torch.no_grad():
        model.train()(torch.rand(16, 3, 64, 52))
    save_model(path, model.eval(), ModelSpec("mobilenet_v2", 0.25, list(attributes), (64, 52)))
    return path


def jpeg_bytes(seed: int = 0, size: tuple[int, int] = (24, 30), fmt: str = "JPEG") -> bytes:
    rng = np.random.default_rng(seed)
    img = Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


DEFAULT_PARAMS = yaml.safe_load((REPO / "params.yaml").read_text())


def with_value(key: str, value) -> dict:
    """A copy of the committed params.yaml with one dotted key set to `value`."""
    params = copy.deepcopy(DEFAULT_PARAMS)
    *parents, last = key.split(".")
    node = params
    for part in parents:
        node = node[part]
    node[last] = value
    return params


def _chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk (PIL writes no 16-bit RGB and never a lying header, so some PNGs are made by hand)."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png16_and_png8(seed: int, size=(30, 36)) -> tuple[bytes, bytes]:
    """The same picture as a 16-bit RGB PNG and as the 8-bit PNG of its high bytes."""
    rng = np.random.default_rng(seed)
    high = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint16)
    wide = (high << 8) | high  # v*257: exactly v after scaling to 8 bits
    raw = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in wide)  # PIL cannot write 16-bit RGB

    ihdr = struct.pack(">IIBBBBB", size[0], size[1], 16, 2, 0, 0, 0)
    png16 = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(raw)) + _chunk(b"IEND", b"")
    buf = io.BytesIO()
    Image.fromarray(high.astype(np.uint8)).save(buf, format="PNG")
    return png16, buf.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares width×height pixels in a few dozen bytes (a decompression bomb's header)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(b"\0" * 64)) + _chunk(b"IEND", b"")


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
