"""Files by content: SHA-256 digests (a light module, so the params check needs no torch to verify weights)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Iterator

CHUNK = 1 << 20  # bytes read at a time: a large file is never held in memory whole


def chunks(path: str | Path) -> Iterator[bytes]:
    """A file's bytes, a chunk at a time."""
    with open(path, "rb") as fh:
        yield from iter(lambda: fh.read(CHUNK), b"")


def files_sha256(*paths: str | Path) -> str:
    """SHA-256 over the files' bytes, one after the other, in the order given."""
    h = hashlib.sha256()
    for path in paths:
        for chunk in chunks(path):
            h.update(chunk)
    return h.hexdigest()


def file_sha256(path: str | Path) -> str:
    return files_sha256(path)
