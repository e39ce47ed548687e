"""What a `faceattr` command reads: image files, folders and zips, scanned into crops (aligned CelebA-style
crops as they are, or every face found in a photo with --detect), with the problems met on the way, so
predict, explain and evaluate read their inputs the same way."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterator, Sequence

from faceattr.data.input_limits import MAX_MEGAPIXELS
from faceattr.errors import FaceattrError
from faceattr.predict.answer_rows import like_an_aligned_crop

if TYPE_CHECKING:  # torch, numpy and the rest load when a command runs, so --help and --version are instant
    import numpy as np
    import torch

    from faceattr.predict.image_sources import ImageItem


@dataclass
class Scan:
    """What the inputs held: per image (or, with --detect, per face) its name, id, place and probabilities,
    plus the files that could not be read and the photos in which no face was found."""

    names: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    where: list[dict] = field(default_factory=list)
    probabilities: list[np.ndarray] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)
    faceless: list[str] = field(default_factory=list)
    unaligned: list[str] = field(default_factory=list)  # without --detect: images unlike an aligned face crop


@dataclass
class Crop:
    """One thing to predict on: an image (or, with --detect, one face of it) as found and as the model sees it."""

    name: str
    image_id: str
    where: dict  # {} or, with --detect, {"face": k, "box": [x, y, w, h]}
    shown: torch.Tensor  # uint8 3×H×W: the image, or the face's aligned 178×218 crop
    model_input: torch.Tensor  # the same at the model's input size


def iter_crops(
    inputs: Sequence[str],
    size: tuple[int, int],
    scan: Scan,
    wanted: set[str] | None = None,
    detect: bool = False,
    detector: str | None = None,
    max_megapixels: float = MAX_MEGAPIXELS,
    what: str | None = None,
) -> Iterator[Crop]:
    """Decode the inputs one at a time (with `detect`, find and align their faces). Unreadable files,
    photos without a face and images unlike an aligned crop are noted in `scan` and, the first two, skipped.
    With `what` (the command's name), a run over many images reports its progress on stderr
    (faceattr.progress), counted per input image; explain leaves it out, as it prints a line per PNG."""
    from faceattr.predict.image_sources import count_images, iter_images
    from faceattr.progress import Progress

    progress = Progress(count_images(inputs, wanted), what) if what else None
    try:
        for item in iter_images(inputs):
            if wanted is not None and item.image_id not in wanted:
                continue
            yield from crops_of(item, size, scan, detect, detector, max_megapixels)
            if progress:
                progress.update()
    finally:
        if progress:
            progress.close()


def crops_of(
    item: ImageItem, size: tuple[int, int], scan: Scan, detect: bool, detector: str | None, max_megapixels: float
) -> Iterator[Crop]:
    """The crops of one input image: none when it does not decode or, with `detect`, holds no face."""
    from faceattr.data.decoding import decode_rgb, resize_to
    from faceattr.predict.detect import DEFAULT_DETECTOR, detect_faces

    if item.problem:
        scan.problems.append((item.name, item.problem))
        return
    try:  # a file that does not decode is skipped; anything else (no OpenCV, say) stops the command
        image = decode_rgb(item.data, item.name, upright=detect, max_megapixels=max_megapixels)
    except FaceattrError as exc:
        scan.problems.append((item.name, str(exc).split(": ", 1)[-1]))
        return
    if detect:
        faces = detect_faces(image, detector or DEFAULT_DETECTOR)
        if not faces:
            scan.faceless.append(item.name)
        for k, face in enumerate(faces):
            yield Crop(
                item.name, item.image_id, {"face": k, "box": list(face.box)}, face.crop, resize_to(face.crop, size)
            )
    else:
        if not like_an_aligned_crop(tuple(image.shape[1:]), size):
            scan.unaligned.append(f"{item.name} ({image.shape[2]}×{image.shape[1]})")
        yield Crop(item.name, item.image_id, {}, image, resize_to(image, size))


def scan_inputs(
    inputs: Sequence[str],
    size: tuple[int, int],
    predict: Callable[[torch.Tensor], np.ndarray],
    wanted: set[str] | None = None,
    detect: bool = False,
    detector: str | None = None,
    batch: int = 256,
    max_megapixels: float = MAX_MEGAPIXELS,
    what: str | None = None,
) -> tuple[Scan, np.ndarray]:
    """Predict on every crop a batch at a time, so memory does not grow with the number of images."""
    import numpy as np
    import torch

    scan, pending = Scan(), []

    def flush() -> None:
        if pending:
            scan.probabilities.append(predict(torch.stack(pending)))
            pending.clear()

    for crop in iter_crops(inputs, size, scan, wanted, detect, detector, max_megapixels, what):
        scan.names.append(crop.name)
        scan.ids.append(crop.image_id)
        scan.where.append(crop.where)
        pending.append(crop.model_input)
        if len(pending) == batch:
            flush()
    flush()
    return scan, (np.concatenate(scan.probabilities) if scan.probabilities else None)


def warn_about_inputs(scan: Scan, size: tuple[int, int]) -> None:
    """The warnings `predict` and `explain` share: skipped files, photos without faces, unaligned images."""
    report_problems(scan.problems)
    for name in scan.faceless:
        print(f"warning: {name}: no face found", file=sys.stderr)
    if scan.unaligned:
        shown = ", ".join(scan.unaligned[:3]) + (
            f" and {len(scan.unaligned) - 3} more" if len(scan.unaligned) > 3 else ""
        )
        print(
            f"warning: {shown}: not shaped like an aligned face crop ({size[1]}×{size[0]} or "
            f"larger, like CelebA's); answers on ordinary photos mean little: use --detect to find and align "
            f"the faces",
            file=sys.stderr,
        )


def report_problems(problems: list[tuple[str, str]]) -> None:
    for name, reason in problems:
        print(f"warning: {name}: skipped ({reason})", file=sys.stderr)


def require_inputs(scan: Scan, inputs: Sequence[str]) -> None:
    """An error when the inputs held nothing at all: no image, no unreadable file, no faceless photo."""
    from faceattr.file_types import PHOTO_SUFFIXES

    if not scan.names and not scan.problems and not scan.faceless:
        raise FaceattrError(
            f"no images found in {', '.join(inputs)} (looked for "
            f"{', '.join(PHOTO_SUFFIXES)} files, folders and zip archives)"
        )
