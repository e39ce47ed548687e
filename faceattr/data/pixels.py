"""The pixel cache: every clean image decoded and resized once, at the training resolution, into one uint8
array on disk (`pixels.npy`, N×H×W×3), which training and evaluation memory-map.

Why it is built this way:
- Decoding JPEGs is what makes a naive input pipeline slow (it decodes every image again each epoch). Here
  no epoch decodes anything: a batch is a gather of rows from the array.
- Rows are stored height × width × channel, so a gathered batch viewed as N×3×H×W is already in
  channels_last memory order, the layout the model runs fastest in: no copy to convert it.
- The file is written with plain sequential writes and read through a memory map whose pages are handed
  back to the kernel as reading goes (madvise DONTNEED), so resident memory stays flat however large the
  dataset; the kernel's page cache still keeps the pages for the next epoch.
- `meta.json` records the size, the ids in row order and the SHA-256 of the array, so a training run
  can tell which data a checkpoint belongs to without reading the whole file again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import mmap
import multiprocessing
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from faceattr.atomic import atomic_dir
from faceattr.data.decoding import decode_resized
from faceattr.data.prefetch import Prefetcher
from faceattr.device import cpu_cores
from faceattr.errors import FaceattrError

FORMAT = "faceattr-pixels/1"
ARRAY_FILE = "pixels.npy"
META_FILE = "meta.json"
RELEASE_EVERY_BYTES = 256 << 20  # hand mapped pages back after this much has been read


def _decode_row(job: tuple[Path, tuple[int, int]]) -> bytes:
    """One image as height × width × channel bytes (runs in a worker process for large sets)."""
    path, size = job
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise FaceattrError(f"{path}: image not found") from None
    return decode_resized(data, size, str(path)).permute(1, 2, 0).contiguous().numpy().tobytes()


def _worker_init() -> None:
    torch.set_num_threads(1)  # one decode per core; the parallelism is across processes


def decode_workers(count: int) -> int:
    """Processes to decode with: one per core for large sets (decoding holds the GIL), else this one."""
    return min(cpu_cores(), 16) if count >= 1000 else 1


def build_pixel_cache(
    images_dir: str | Path, ids: Sequence[str], size: tuple[int, int], out_dir: str | Path, log_every: int = 0
) -> dict:
    """Decode `ids` from `images_dir` at `size` = (height, width) into `out_dir` (written atomically).

    Streams: rows are written in order as they are decoded, so memory does not grow with the number of
    images; large sets are decoded by one process per core (in order, so the bytes do not depend on it).
    """
    height, width = size
    header = {
        "descr": np.lib.format.dtype_to_descr(np.dtype(np.uint8)),
        "fortran_order": False,
        "shape": (len(ids), height, width, 3),
    }
    digest = hashlib.sha256()
    jobs = [(Path(images_dir) / image_id, (height, width)) for image_id in ids]
    workers = decode_workers(len(ids))
    with atomic_dir(out_dir) as tmp, contextlib.ExitStack() as stack:
        if workers > 1:
            pool = stack.enter_context(multiprocessing.get_context("fork").Pool(workers, initializer=_worker_init))
            rows = pool.imap(_decode_row, jobs, chunksize=64)
        else:
            rows = map(_decode_row, jobs)
        prefetch = stack.enter_context(Prefetcher([path for path, _ in jobs]))  # after the fork: not in the workers
        with open(tmp / ARRAY_FILE, "wb") as fh:
            np.lib.format.write_array_header_1_0(fh, header)
            row_bytes = height * width * 3
            for k, row in enumerate(rows):
                if len(row) != row_bytes:  # every row must match the header, or all later rows would shift
                    raise FaceattrError(
                        f"{jobs[k][0]}: decoded to {len(row)} bytes, not the {row_bytes} of a "
                        f"{height}×{width} RGB row; the pixel cache was not written"
                    )
                digest.update(row)
                fh.write(row)
                prefetch.consumed()
                if log_every and (k + 1) % log_every == 0:
                    print(f"preprocess: {k + 1}/{len(ids)} images", flush=True)
            fh.flush()
            os.fsync(fh.fileno())
        meta = {
            "format": FORMAT,
            "image_size": [height, width],
            "count": len(ids),
            "sha256": digest.hexdigest(),
            "ids": list(ids),
        }
        (tmp / META_FILE).write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    return meta


class PixelCache:
    """A pixel cache opened for reading: a read-only memory map of the array plus its row index."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        meta_path, array_path = self.folder / META_FILE, self.folder / ARRAY_FILE
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise FaceattrError(f"{meta_path}: pixel cache not found (run `dvc repro preprocess`)") from None
        except json.JSONDecodeError as exc:
            raise FaceattrError(f"{meta_path}: not a pixel cache description ({exc})") from None
        if meta.get("format") != FORMAT:
            raise FaceattrError(f"{meta_path}: not a faceattr pixel cache (expected format {FORMAT})")
        self.size: tuple[int, int] = tuple(meta["image_size"])
        self.ids: list[str] = meta["ids"]
        self.sha256: str = meta["sha256"]
        self.index = {image_id: row for row, image_id in enumerate(self.ids)}
        with open(array_path, "rb") as fh:
            if np.lib.format.read_magic(fh) != (1, 0):
                raise FaceattrError(f"{array_path}: not written by build_pixel_cache (unexpected .npy version)")
            shape, _, _ = np.lib.format.read_array_header_1_0(fh)
            offset = fh.tell()
            expected = (len(self.ids), *self.size, 3)
            if tuple(shape) != expected:
                raise FaceattrError(f"{array_path}: holds {shape}, but {meta_path} describes {expected}")
            length = offset + int(np.prod(shape))
            actual = os.fstat(fh.fileno()).st_size
            if actual != length:
                raise FaceattrError(
                    f"{array_path}: {actual} bytes, but its header describes {shape} "
                    f"({length} bytes); re-run `dvc repro preprocess`"
                )
            self._map = mmap.mmap(fh.fileno(), length, access=mmap.ACCESS_READ) if len(self.ids) else None
        self.array = (
            np.frombuffer(self._map, dtype=np.uint8, count=int(np.prod(shape)), offset=offset).reshape(shape)
            if self._map is not None
            else np.empty(shape, np.uint8)
        )
        self._unreleased = 0

    def rows(self, ids: Sequence[str]) -> np.ndarray:
        """Row numbers of `ids`; an id that was not cached is an error naming it."""
        try:
            return np.fromiter((self.index[i] for i in ids), dtype=np.int64, count=len(ids))
        except KeyError as exc:
            raise FaceattrError(
                f"{self.folder}: image {exc.args[0]} is not in the pixel cache (re-run `dvc repro preprocess`)"
            ) from None

    def gather(self, rows: np.ndarray) -> torch.Tensor:
        """A uint8 N×3×H×W batch (channels_last memory) of the given rows, copied out of the map."""
        batch = self.array[rows]  # fancy indexing copies; the map itself is never written
        self._unreleased += batch.nbytes
        if self._unreleased >= RELEASE_EVERY_BYTES:
            self.release()
        return torch.from_numpy(batch).permute(0, 3, 1, 2)

    def release(self) -> None:
        """Drop the mapped pages from this process (they stay in the page cache), so RSS stays flat."""
        self._unreleased = 0
        if self._map is not None and hasattr(mmap, "MADV_DONTNEED"):
            self._map.madvise(mmap.MADV_DONTNEED)

    def images(self, ids: Sequence[str]) -> "CachedImages":
        return CachedImages(self, self.rows(ids))


class CachedImages:
    """A split's images: rows of a PixelCache, read on demand (the split is never loaded whole)."""

    def __init__(self, cache: PixelCache, rows: np.ndarray):
        self.cache, self.rows = cache, rows

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def size(self) -> tuple[int, int]:
        return self.cache.size

    def gather(self, idx: torch.Tensor | np.ndarray) -> torch.Tensor:
        idx = idx.numpy() if isinstance(idx, torch.Tensor) else np.asarray(idx)
        return self.cache.gather(self.rows[idx])

    def digest(self) -> bytes:
        """Identifies the pixels without reading them: the cache's checksum and the rows taken."""
        return hashlib.sha256(self.cache.sha256.encode() + self.rows.tobytes()).digest()


class TensorImages:
    """A split's images held as one uint8 N×3×H×W tensor (in memory, or resident on the GPU)."""

    def __init__(self, tensor: torch.Tensor):
        if tensor.dtype != torch.uint8 or tensor.ndim != 4 or tensor.shape[1] != 3:
            raise FaceattrError(f"images: expected a uint8 N×3×H×W tensor, got {tuple(tensor.shape)} {tensor.dtype}")
        self.tensor = tensor

    def __len__(self) -> int:
        return self.tensor.shape[0]

    @property
    def size(self) -> tuple[int, int]:
        return tuple(self.tensor.shape[2:])

    def gather(self, idx: torch.Tensor | np.ndarray) -> torch.Tensor:
        idx = torch.as_tensor(idx, device=self.tensor.device)
        return self.tensor[idx]

    def digest(self) -> bytes:
        return hashlib.sha256(self.tensor.detach().cpu().contiguous().numpy().tobytes()).digest()


Images = CachedImages | TensorImages


def as_images(images: Images | torch.Tensor) -> Images:
    """Accept a plain uint8 tensor wherever a split's images are expected."""
    return TensorImages(images) if isinstance(images, torch.Tensor) else images


def to_device(images: Images, device: torch.device, chunk: int = 1024) -> TensorImages:
    """Copy every image onto `device` (GPU-resident data), reading the source in chunks."""
    n = len(images)
    out = torch.empty((n, 3, *images.size), dtype=torch.uint8, device=device).contiguous(
        memory_format=torch.channels_last
    )
    for start in range(0, n, chunk):
        idx = torch.arange(start, min(n, start + chunk))
        out[start : start + len(idx)] = images.gather(idx).to(device)
    return TensorImages(out)
