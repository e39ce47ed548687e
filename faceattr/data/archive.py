"""Safe extraction of an image archive, checking that every image decodes.

The archive is inspected in full before anything is written: absolute paths, `..` components,
symlinks and an uncompressed total over the cap refuse the whole archive (zip-slip and zip bombs),
so a hostile file never leaves a partial folder behind.
"""

from __future__ import annotations

import io
import stat
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from PIL import Image, UnidentifiedImageError

from faceattr.atomic import atomic_dir
from faceattr.data.input_limits import MAX_IMAGE_MB, SMALL_SIDE, pixel_problem
from faceattr.errors import FaceattrError

# A dataset image's suffix → the format its bytes must have: what the pipeline's decoder (torchvision's
# decode_jpeg/decode_png) reads. Photos given to `faceattr predict` may be more (file_types.PHOTO_SUFFIXES).
DATASET_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG"}


class EntryTooLarge(Exception):
    """An archive entry expands past the per-image cap."""


def read_entry(zf: zipfile.ZipFile, info: zipfile.ZipInfo, max_bytes: int) -> bytes:
    """An entry's bytes, read with a cap that does not trust the declared size (a header can lie).

    Raises EntryTooLarge past the cap, and zipfile's own errors for a bad CRC (BadZipFile), encryption
    (RuntimeError) or an unsupported compression (NotImplementedError).
    """
    if info.file_size > max_bytes:
        raise EntryTooLarge(f"expands to {info.file_size / 2**20:.0f} MiB, over the {max_bytes / 2**20:.0f} MiB cap")
    with zf.open(info) as fh:
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise EntryTooLarge(f"expands past the {max_bytes / 2**20:.0f} MiB cap")
    return data


def read_problem(zf: zipfile.ZipFile, info: zipfile.ZipInfo, max_bytes: int) -> tuple[bytes, str | None]:
    """(bytes, None) for a readable entry, or (b"", why not) for one that cannot be read."""
    try:
        return read_entry(zf, info, max_bytes), None
    except EntryTooLarge as exc:
        return b"", str(exc)
    except zipfile.BadZipFile as exc:
        return b"", f"corrupt archive entry ({exc})"
    except RuntimeError as exc:  # zipfile: "File ... is encrypted, password required for extraction"
        if "encrypted" in str(exc) or "password" in str(exc):
            return b"", "encrypted entry (password required)"
        return b"", f"cannot be read ({str(exc)[-80:]})"
    except (NotImplementedError, zlib.error, EOFError, OSError) as exc:
        return b"", f"cannot be read ({type(exc).__name__}: {str(exc)[:80]})"


def _check_entry(archive: Path, info: zipfile.ZipInfo) -> None:
    name = info.filename
    posix = PurePosixPath(name.replace("\\", "/"))
    if posix.is_absolute() or (len(name) > 1 and name[1] == ":"):
        raise FaceattrError(f"{archive}: refusing an absolute path in the archive: {name!r}")
    if ".." in posix.parts:
        raise FaceattrError(f"{archive}: refusing a path with '..' in the archive: {name!r}")
    mode = info.external_attr >> 16
    if info.create_system == 3 and stat.S_ISLNK(mode):
        raise FaceattrError(f"{archive}: refusing a symbolic link in the archive: {name!r}")


def image_problem(data: bytes, suffix: str) -> str | None:
    """Why these bytes are not a usable image of the suffix's format, or None if they are."""
    if not data:
        return "empty file"
    too_large = pixel_problem(data)  # before decoding a single pixel
    if too_large:
        return too_large
    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt = img.format
            img.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        return f"does not decode: {exc}"
    expected = DATASET_FORMATS[suffix]
    if fmt != expected:
        return f"{fmt} data in a {suffix} file"
    return None


def _smallest_side(data: bytes) -> int:
    with Image.open(io.BytesIO(data)) as img:
        return min(img.size)


def extract_images(
    archive: str | Path,
    dest: str | Path,
    max_uncompressed_bytes: int,
    on_bad_image: str = "skip",
    max_image_bytes: int = MAX_IMAGE_MB * 2**20,
) -> dict:
    """Extract every image of `archive` flat into `dest`; return a report of what was left out and why.

    An entry that cannot be read (bad CRC, encrypted, over `max_image_bytes` once expanded) or that is
    not a usable image (truncated, over the pixel limit, another format) is a bad image: listed and left
    out, or with `on_bad_image: fail` one line naming it. Images with a side under SMALL_SIDE pixels
    are extracted but listed, since training would upscale them far.
    """
    archive, dest = Path(archive), Path(dest)
    if not archive.is_file():
        raise FaceattrError(f"{archive}: image archive not found")
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as exc:
        raise FaceattrError(f"{archive}: not a zip archive ({exc})") from None
    with zf:
        infos = zf.infolist()
        for info in infos:
            _check_entry(archive, info)
        total = sum(info.file_size for info in infos)
        if total > max_uncompressed_bytes:
            raise FaceattrError(
                f"{archive}: uncompressed size {total / 2**20:.1f} MiB exceeds the cap "
                f"unzip.max_uncompressed_mb = {max_uncompressed_bytes / 2**20:.0f} MiB"
            )
        images: dict[str, zipfile.ZipInfo] = {}
        non_images = 0
        for info in infos:
            if info.is_dir():
                continue
            base = PurePosixPath(info.filename.replace("\\", "/")).name
            suffix = PurePosixPath(base).suffix.lower()
            if suffix not in DATASET_FORMATS or base.startswith("."):
                non_images += 1
                continue
            if base in images:
                raise FaceattrError(
                    f"{archive}: two entries share the image name {base!r}: "
                    f"{images[base].filename!r} and {info.filename!r}"
                )
            images[base] = info

        bad: list[dict] = []
        small: list[dict] = []
        with atomic_dir(dest) as staging:
            for base in sorted(images):
                info = images[base]
                data, problem = read_problem(zf, info, min(max_image_bytes, max_uncompressed_bytes))
                problem = problem or image_problem(data, PurePosixPath(base).suffix.lower())
                if problem:
                    if on_bad_image == "fail":
                        raise FaceattrError(f"{archive}: {info.filename}: {problem} (unzip.on_bad_image is 'fail')")
                    bad.append({"image": base, "entry": info.filename, "reason": problem})
                    continue
                side = _smallest_side(data)
                if side < SMALL_SIDE:
                    small.append({"image": base, "smallest_side": side})
                (staging / base).write_bytes(data)

    return {
        "archive": str(archive),
        "entries": len(infos),
        "images_found": len(images),
        "images_extracted": len(images) - len(bad),
        "images_bad": len(bad),
        "bad_images": bad,
        "small_images": small,
        "non_image_entries": non_images,
        "uncompressed_bytes": total,
    }
