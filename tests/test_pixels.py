"""The pixel cache: decoded once, byte-stable, read back exactly, bounded in what it keeps mapped."""

import json

import numpy as np
import pytest
import torch
from helpers import jpeg_bytes, png16_and_png8

from faceattr.data import pixels
from faceattr.data.decoding import decode_resized
from faceattr.data.pixels import PixelCache, TensorImages, build_pixel_cache, to_device
from faceattr.errors import FaceattrError

SIZE = (20, 16)


@pytest.fixture
def folder(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    for k in range(12):
        (images / f"{k + 1:06d}.jpg").write_bytes(jpeg_bytes(k, size=(30, 36)))
    return images


def ids(n=12):
    return [f"{k + 1:06d}.jpg" for k in range(n)]


def test_rows_are_the_decoded_images_in_channels_last_order(folder, tmp_path):
    meta = build_pixel_cache(folder, ids(), SIZE, tmp_path / "px")
    assert meta["count"] == 12 and meta["image_size"] == list(SIZE) and meta["ids"] == ids()
    cache = PixelCache(tmp_path / "px")
    rows = cache.rows(["000003.jpg", "000011.jpg", "000001.jpg"])
    assert rows.tolist() == [2, 10, 0]
    batch = cache.gather(rows)
    assert batch.shape == (3, 3, *SIZE) and batch.dtype == torch.uint8
    assert batch.is_contiguous(memory_format=torch.channels_last)
    for got, name in zip(batch, ["000003.jpg", "000011.jpg", "000001.jpg"]):
        assert torch.equal(got, decode_resized((folder / name).read_bytes(), SIZE))


def test_same_input_same_bytes_whatever_the_process_count(folder, tmp_path, monkeypatch):
    build_pixel_cache(folder, ids(), SIZE, tmp_path / "one")
    monkeypatch.setattr(pixels, "decode_workers", lambda count: 2)
    build_pixel_cache(folder, ids(), SIZE, tmp_path / "two")
    for name in (pixels.ARRAY_FILE, pixels.META_FILE):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
    array = np.load(tmp_path / "one" / pixels.ARRAY_FILE)  # a plain .npy any tool can read
    assert array.shape == (12, *SIZE, 3)


def test_split_views_gather_and_identify_their_rows(folder, tmp_path):
    build_pixel_cache(folder, ids(), SIZE, tmp_path / "px")
    cache = PixelCache(tmp_path / "px")
    split = cache.images(["000005.jpg", "000002.jpg"])
    assert len(split) == 2 and split.size == SIZE
    assert torch.equal(split.gather(torch.tensor([1]))[0], cache.gather(np.array([1]))[0])
    assert split.digest() != cache.images(["000002.jpg", "000005.jpg"]).digest()
    tensor = TensorImages(split.gather(np.arange(2)).contiguous())
    assert torch.equal(tensor.gather(np.array([1, 0])), split.gather(np.array([1, 0])))
    assert torch.equal(to_device(split, torch.device("cpu"), chunk=1).tensor, tensor.tensor)


def test_mapped_pages_are_released_as_reading_goes(folder, tmp_path, monkeypatch):
    build_pixel_cache(folder, ids(), SIZE, tmp_path / "px")
    cache = PixelCache(tmp_path / "px")
    released = []
    monkeypatch.setattr(pixels, "RELEASE_EVERY_BYTES", 3 * SIZE[0] * SIZE[1] * 3)
    monkeypatch.setattr(cache, "release", lambda: (released.append(1), setattr(cache, "_unreleased", 0)))
    for k in range(12):
        cache.gather(np.array([k]))
    assert len(released) == 4  # every third image's worth of bytes
    cache.release = PixelCache.release.__get__(cache)
    cache.release()  # the real madvise: reading afterwards still gives the same pixels
    assert torch.equal(cache.gather(np.array([4]))[0], decode_resized((folder / "000005.jpg").read_bytes(), SIZE))


def test_a_missing_image_names_it_and_writes_nothing(folder, tmp_path):
    build_pixel_cache(folder, ids(3), SIZE, tmp_path / "px")
    before = (tmp_path / "px" / pixels.ARRAY_FILE).read_bytes()
    with pytest.raises(FaceattrError, match="000099.jpg: image not found"):
        build_pixel_cache(folder, [*ids(3), "000099.jpg"], SIZE, tmp_path / "px")
    assert (tmp_path / "px" / pixels.ARRAY_FILE).read_bytes() == before  # the previous cache is kept
    assert not list(tmp_path.glob(".px.*.tmp"))


def test_unknown_ids_and_foreign_folders_are_clear_errors(folder, tmp_path):
    build_pixel_cache(folder, ids(3), SIZE, tmp_path / "px")
    with pytest.raises(FaceattrError, match="000007.jpg is not in the pixel cache"):
        PixelCache(tmp_path / "px").rows(["000007.jpg"])
    with pytest.raises(FaceattrError, match="pixel cache not found"):
        PixelCache(tmp_path / "nothing")
    meta = json.loads((tmp_path / "px" / pixels.META_FILE).read_text())
    (tmp_path / "px" / pixels.META_FILE).write_text(json.dumps({**meta, "ids": ids(4)}))
    with pytest.raises(FaceattrError, match="describes"):
        PixelCache(tmp_path / "px")


def test_a_16_bit_png_is_cached_as_its_8_bit_pixels(folder, tmp_path):
    from torchvision.io import decode_image

    png16, png8 = png16_and_png8(3)
    assert decode_image(torch.frombuffer(bytearray(png16), dtype=torch.uint8)).dtype == torch.uint16  # the trap
    (folder / "000005.jpg").unlink()
    (folder / "000005.png").write_bytes(png16)
    (tmp_path / "ref").mkdir()
    (tmp_path / "ref" / "000005.png").write_bytes(png8)
    names = [*ids(4), "000005.png", *ids(12)[5:]]
    build_pixel_cache(folder, names, SIZE, tmp_path / "px")
    cache = PixelCache(tmp_path / "px")
    got = cache.gather(cache.rows(names))
    assert torch.equal(got[4], decode_resized(png8, SIZE))  # the 16-bit image, scaled to 8 bits
    for k in (5, 10):  # and the rows after it are not shifted
        assert torch.equal(got[k], decode_resized((folder / names[k]).read_bytes(), SIZE))


def test_a_row_of_the_wrong_size_stops_the_cache(folder, tmp_path, monkeypatch):
    real = pixels._decode_row
    monkeypatch.setattr(pixels, "_decode_row", lambda job: real(job) * (2 if job[0].name == "000004.jpg" else 1))
    with pytest.raises(FaceattrError, match=r"000004.jpg: decoded to 1920 bytes, not the 960"):
        build_pixel_cache(folder, ids(), SIZE, tmp_path / "px")
    assert not (tmp_path / "px").exists()


def test_an_array_longer_than_its_header_is_refused(folder, tmp_path):
    build_pixel_cache(folder, ids(), SIZE, tmp_path / "px")
    with open(tmp_path / "px" / pixels.ARRAY_FILE, "ab") as fh:
        fh.write(b"\0" * 960)
    with pytest.raises(FaceattrError, match="bytes, but its header describes"):
        PixelCache(tmp_path / "px")


def test_prefetch_announces_each_file_once_in_order_and_at_most_its_window_ahead(tmp_path, monkeypatch):
    """The read-ahead hint goes to every file, in order, never more than `ahead` files beyond the rows
    consumed (so a data set larger than memory is not read in at once), and stops when its block ends."""
    import os
    import threading
    import time

    from faceattr.data.prefetch import Prefetcher

    files = []
    for k in range(10):
        files.append(tmp_path / f"{k:02d}.jpg")
        files[-1].write_bytes(b"x" * 10)
    announced, opened = [], {}
    real_open = os.open

    def record(fd, offset, length, advice):
        assert advice == os.POSIX_FADV_WILLNEED
        announced.append(opened[fd])

    def opening(path, flags, *rest):
        fd = real_open(path, flags, *rest)
        opened[fd] = os.fspath(path)
        return fd

    monkeypatch.setattr(os, "posix_fadvise", record, raising=False)
    monkeypatch.setattr(os, "open", opening)

    def settled(count: int) -> None:
        deadline = time.monotonic() + 10
        while len(announced) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.05)  # and nothing more arrives
        assert len(announced) == count, announced

    with Prefetcher(files[:3] + [tmp_path / "missing.jpg"] + files[3:], ahead=3) as prefetch:
        settled(3)  # the window, before any row is consumed
        prefetch.consumed()
        prefetch.consumed()
        settled(4)  # two more slots: one went to the missing file, which is skipped
        stopped_at = len(announced)
    assert not any(t.name == "faceattr-prefetch" for t in threading.enumerate())
    assert announced == [os.fspath(f) for f in files[:stopped_at]]
