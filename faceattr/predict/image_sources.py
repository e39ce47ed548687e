"""Images named on the command line: files, folders and zip archives, read without extracting."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterator, Sequence

from faceattr.data.archive import read_problem
from faceattr.data.input_limits import MAX_IMAGE_MB
from faceattr.errors import FaceattrError
from faceattr.file_types import PHOTO_SUFFIXES


@dataclass
class ImageItem:
    """One image: the name reported to the user, its id (file name) and its bytes."""

    name: str
    image_id: str
    data: bytes
    problem: str | None = None  # why it could not be read (then `data` is empty)


def iter_images(inputs: Sequence[str | Path]) -> Iterator[ImageItem]:
    """Yield every image of the inputs, in sorted order within folders and archives.

    A named file is yielded whatever its suffix (a non-image fails later, when decoded, with its name);
    folders and archives contribute only files with image suffixes. A file or archive entry that cannot be
    read (unreadable, corrupt, encrypted, holding or expanding past MAX_IMAGE_MB) is yielded with its
    `problem`, to be skipped.
    """
    for raw in inputs:
        path = Path(raw)
        if path.is_dir():
            for child in sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES):
                yield read_image_file(child, MAX_IMAGE_MB * 2**20)
        elif path.is_file() and zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                for info in sorted(zf.infolist(), key=lambda i: i.filename):
                    base = PurePosixPath(info.filename).name
                    if info.is_dir() or PurePosixPath(base).suffix.lower() not in PHOTO_SUFFIXES:
                        continue
                    data, problem = read_problem(zf, info, MAX_IMAGE_MB * 2**20)
                    yield ImageItem(f"{path}:{info.filename}", base, data, problem)
        elif path.is_file():
            yield read_image_file(path, MAX_IMAGE_MB * 2**20)
        else:
            raise FaceattrError(f"{path}: no such file, folder or zip archive")


def read_image_file(path: Path, max_bytes: int) -> ImageItem:
    """A file's bytes, with the cap zip entries have: its size is checked before anything is read (and the
    read stops past the cap, should the file grow meanwhile); a file that cannot be read has a `problem`."""
    item = ImageItem(str(path), path.name, b"")
    try:
        size = path.stat().st_size
        if size > max_bytes:
            item.problem = f"{size / 2**20:.1f} MiB, over the {max_bytes / 2**20:.0f} MiB cap on one image"
            return item
        with open(path, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        item.problem = f"cannot be read ({exc.strerror or type(exc).__name__})"
        return item
    if len(data) > max_bytes:
        item.problem = f"grew past the {max_bytes / 2**20:.0f} MiB cap on one image while being read"
    else:
        item.data = data
    return item


def count_images(inputs: Sequence[str | Path], wanted: set[str] | None = None) -> int | None:
    """How many images `iter_images` will yield (only those whose id is in `wanted`, when given), from
    folder listings and zip directories, without reading or decoding any image; None if an input is
    missing or an archive's directory cannot be read (the count is then unknown, not an error here)."""
    total = 0
    try:
        for raw in inputs:
            path = Path(raw)
            if path.is_dir():
                names = [p.name for p in path.rglob("*") if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES]
            elif path.is_file() and zipfile.is_zipfile(path):
                with zipfile.ZipFile(path) as zf:
                    names = [
                        PurePosixPath(i.filename).name
                        for i in zf.infolist()
                        if not i.is_dir() and PurePosixPath(i.filename).suffix.lower() in PHOTO_SUFFIXES
                    ]
            elif path.is_file():
                names = [path.name]
            else:
                return None
            total += sum(1 for n in names if wanted is None or n in wanted)
    except (OSError, zipfile.BadZipFile):
        return None
    return total
