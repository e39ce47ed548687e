"""Images named on the command line: files, folders and zip archives, read without extracting."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterator, Sequence

from faceattr.errors import FaceattrError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


@dataclass
class ImageItem:
    """One image: the name reported to the user, its id (file name) and its bytes."""

    name: str
    image_id: str
    data: bytes


def iter_images(inputs: Sequence[str | Path]) -> Iterator[ImageItem]:
    """Yield every image of the inputs, in sorted order within folders and archives.

    A named file is yielded whatever its suffix (a non-image fails later, when decoded, with its name);
    folders and archives contribute only files with image suffixes.
    """
    for raw in inputs:
        path = Path(raw)
        if path.is_dir():
            for child in sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES):
                yield ImageItem(str(child), child.name, child.read_bytes())
        elif path.is_file() and zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                for info in sorted(zf.infolist(), key=lambda i: i.filename):
                    base = PurePosixPath(info.filename).name
                    if info.is_dir() or PurePosixPath(base).suffix.lower() not in IMAGE_SUFFIXES:
                        continue
                    yield ImageItem(f"{path}:{info.filename}", base, zf.read(info))
        elif path.is_file():
            yield ImageItem(str(path), path.name, path.read_bytes())
        else:
            raise FaceattrError(f"{path}: no such file, folder or zip archive")
