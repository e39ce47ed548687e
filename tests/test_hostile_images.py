"""Hostile and broken image files: refused before they cost memory, skipped with one warning line each, and the
other images still answered, wherever images are read (the CLI's folders, files and zips, the decoder serve and
the pixel cache share, the archive check)."""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import zipfile

import pytest
import torch
from helpers import faceattr_cli, jpeg_bytes, small_model
from PIL import Image

from faceattr.data import decoding
from faceattr.data.archive import image_problem
from faceattr.data.decoding import decode_resized, decode_rgb
from faceattr.data.input_limits import MAX_IMAGE_MB, gif_frames, pixel_problem
from faceattr.errors import FaceattrError
from faceattr.file_types import PHOTO_SUFFIXES
from faceattr.predict.image_sources import count_images, iter_images

ATTRS = ["Male", "Smiling"]
FACE = (52, 64)  # small_model's input, width × height


def gif_bomb(width: int = 5000, height: int = 5000, frames: int = 20) -> bytes:
    """An animated GIF of `frames` one-pixel frames on a width×height canvas (~500 bytes): torchvision's decoder
    allocates the whole canvas for every frame (20 × 25 megapixels × 3 bytes = 1.5 GB)."""
    out = b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80, 0, 0) + b"\0\0\0\xff\xff\xff"  # 2-colour table
    for _ in range(frames):
        out += b"\x21\xf9\x04\x00\x00\x00\x00\x00"  # graphic control extension
        out += b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0)  # image descriptor: one pixel at (0, 0)
        out += b"\x02\x02\x44\x01\x00"  # LZW code size 2, one data sub-block, the end of the data
    return out + b"\x3b"


def animated_gif(frames: int = 3, size: tuple[int, int] = (40, 30)) -> bytes:
    """A small, ordinary animated GIF made by PIL: frames of different colours, a comment and a loop."""
    buf = io.BytesIO()
    images = [Image.new("RGB", size, (60 * k, 255 - 60 * k, 90)) for k in range(frames)]
    images[0].save(
        buf, "GIF", save_all=True, append_images=images[1:], duration=80, loop=0, comment=b"hi", optimize=False
    )
    return buf.getvalue()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A model, and a folder and a zip that each hold good images beside an empty one and a GIF bomb."""
    root = tmp_path_factory.mktemp("hostile_images")
    small_model(root / "model.pt", ATTRS)
    folder = root / "photos"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(jpeg_bytes(1, FACE))
    (folder / "b.jpg").write_bytes(jpeg_bytes(2, FACE))
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "bomb.jpg").write_bytes(gif_bomb())
    with zipfile.ZipFile(root / "more.zip", "w") as zf:
        zf.writestr("c.jpg", jpeg_bytes(3, FACE))
        zf.writestr("empty2.jpg", b"")
    ids = ["a.jpg", "b.jpg", "bomb.jpg", "c.jpg", "empty.jpg", "empty2.jpg"]
    rows = "".join(f"{i} {1 if k % 2 else -1} {-1 if k % 3 else 1}\n" for k, i in enumerate(ids))
    (root / "labels.txt").write_text(f"{len(ids)}\n{' '.join(ATTRS)}\n{rows}")
    return root


def skipped(err: str) -> dict[str, str]:
    """The `warning: NAME: skipped (REASON)` lines of stderr, as {file name: reason}."""
    found = {}
    for line in err.splitlines():
        if line.startswith("warning: ") and ": skipped (" in line:
            name, reason = line[len("warning: ") :].split(": skipped (", 1)
            found[name.rsplit("/", 1)[-1].rsplit(":", 1)[-1]] = reason
    return found


# --- 1. frames multiply the pixel budget ----------------------------------------------------------------------


def test_an_animated_gif_bomb_is_refused_before_anything_is_decoded(monkeypatch):
    def no_decoding(*args, **kwargs):
        raise AssertionError("the decoder was called")

    monkeypatch.setattr(decoding, "decode_image", no_decoding)
    bomb = gif_bomb()
    assert len(bomb) < 600
    for decode in (lambda: decode_rgb(bomb, "x/bomb.gif"), lambda: decode_resized(bomb, (64, 52), "x/bomb.gif")):
        with pytest.raises(FaceattrError) as caught:
            decode()
        message = str(caught.value)
        assert message.startswith("x/bomb.gif: a GIF of 5000×5000") and "\n" not in message
        assert "frame" in message and "over the limit of 50 megapixels" in message
    assert "over the limit" in image_problem(bomb, ".jpg")  # the unzip stage's check, before PIL loads a frame
    assert pixel_problem(bomb, max_megapixels=600) is None  # 20 × 25 MP = 500 MP: the frames are what count


def test_decoding_an_animated_gif_bomb_stays_within_bounded_memory(tmp_path):
    """In a fresh interpreter, the bomb costs no more than a few hundred MB over what torch itself takes
    (torchvision's decoder took 2.1 GB more before the frames were counted)."""
    (tmp_path / "bomb.gif").write_bytes(gif_bomb())
    script = (
        "import resource, sys\n"
        "from faceattr.data.decoding import decode_rgb\n"
        "from faceattr.errors import FaceattrError\n"
        "data = open(sys.argv[1], 'rb').read()\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "try:\n"
        "    decode_rgb(data, 'bomb.gif')\n"
        "    print('decoded')\n"
        "except FaceattrError as exc:\n"
        "    print(exc)\n"
        "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "bomb.gif")], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    message, grown_mb = proc.stdout.strip().splitlines()
    assert message.startswith("bomb.gif: a GIF of 5000×5000") and int(grown_mb) < 300


def test_gif_frames_are_counted_as_pil_counts_them():
    """The block walk finds every frame of ordinary GIFs (no false refusal, no frame missed)."""
    for frames in (1, 2, 5):
        data = animated_gif(frames)
        with Image.open(io.BytesIO(data)) as img:
            assert gif_frames(data) == (40, 30, img.n_frames, img.n_frames * 40 * 30) and img.n_frames == frames
    assert gif_frames(gif_bomb(7, 9, 20)) == (7, 9, 20, 20 * 63)
    assert gif_frames(gif_bomb(), stop_past=60e6)[2] == 3  # stops counting once over the limit
    assert gif_frames(b"\xff\xd8\xff" + b"\0" * 20) is None


def test_a_small_animated_gif_decodes_to_its_first_frame_and_other_decoders_to_one_frame():
    data = animated_gif(3)
    img = decode_rgb(data, "anim.gif")
    assert tuple(img.shape) == (3, 30, 40) and img[:, 0, 0].tolist() == [0, 255, 90]
    apng = io.BytesIO()  # torchvision reads an APNG's default image only: one frame, whatever acTL says
    frames = [Image.new("RGB", (40, 30), (50 * k, 0, 0)) for k in range(4)]
    frames[0].save(apng, "PNG", save_all=True, append_images=frames[1:])
    assert tuple(decode_rgb(apng.getvalue(), "anim.png").shape) == (3, 30, 40)
    webp = io.BytesIO()  # and refuses an animated WebP (before decoding a frame): one line naming the file
    frames[0].save(webp, "WEBP", save_all=True, append_images=frames[1:], lossless=True)
    with pytest.raises(FaceattrError, match=r"^anim\.webp: an animated WebP image, which is not read"):
        decode_rgb(webp.getvalue(), "anim.webp")


# --- 2. an empty image is a bad image, not the end of the run ------------------------------------------------------


def test_an_empty_image_is_a_one_line_error_of_the_decoder():
    for empty in (b"", torch.empty(0, dtype=torch.uint8)):
        with pytest.raises(FaceattrError, match=r"^x\.jpg: empty file \(0 bytes\)$"):
            decode_rgb(empty, "x.jpg")


def test_predict_skips_empty_images_and_gif_bombs_and_answers_the_rest(inputs):
    proc = faceattr_cli(
        ["predict", "photos", "more.zip", "--model", "model.pt", "--format", "json"], inputs, check=False
    )
    assert proc.returncode == 0, proc.stderr
    answered = [row["image"].rsplit("/", 1)[-1].rsplit(":", 1)[-1] for row in json.loads(proc.stdout)]
    assert answered == ["a.jpg", "b.jpg", "c.jpg"]
    reasons = skipped(proc.stderr)
    assert set(reasons) == {"empty.jpg", "empty2.jpg", "bomb.jpg"} and "Traceback" not in proc.stderr
    assert reasons["empty.jpg"].startswith("empty file") and reasons["empty2.jpg"].startswith("empty file")
    assert "over the limit" in reasons["bomb.jpg"]


def test_explain_skips_empty_images_and_explains_the_rest(inputs, tmp_path):
    args = ["explain", "photos", "more.zip", "--model", "model.pt", "--attribute", "Smiling", "--out", str(tmp_path)]
    proc = faceattr_cli(args, inputs, check=False)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_Smiling.png", "b_Smiling.png", "c_Smiling.png"]
    assert set(skipped(proc.stderr)) == {"empty.jpg", "empty2.jpg", "bomb.jpg"}


def test_evaluate_skips_empty_images_and_scores_the_rest(inputs, tmp_path):
    args = ["evaluate", "--model", "model.pt", "--images", "photos", "more.zip", "--labels", "labels.txt"]
    proc = faceattr_cli([*args, "--out", str(tmp_path / "m.json")], inputs, check=False)
    assert proc.returncode == 0, proc.stderr
    assert set(skipped(proc.stderr)) == {"empty.jpg", "empty2.jpg", "bomb.jpg"}
    assert "Traceback" not in proc.stderr and (tmp_path / "m.json").is_file()


# --- 3. every listed image suffix decodes ------------------------------------------------------------------------

PIL_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP"}


def test_every_listed_image_suffix_decodes_and_bmp_is_not_listed(tmp_path):
    assert set(PHOTO_SUFFIXES) <= set(PIL_FORMATS), "a listed suffix without a decoding test"
    for suffix in PHOTO_SUFFIXES:
        data = jpeg_bytes(0, (20, 24), fmt=PIL_FORMATS[suffix])
        assert tuple(decode_rgb(data, f"x{suffix}").shape) == (3, 24, 20)
    (tmp_path / "x.bmp").write_bytes(jpeg_bytes(0, (20, 24), fmt="BMP"))
    (tmp_path / "y.jpg").write_bytes(jpeg_bytes(0, (20, 24)))
    assert [item.image_id for item in iter_images([tmp_path])] == ["y.jpg"] and count_images([tmp_path]) == 1
    with pytest.raises(FaceattrError, match=r"^x\.bmp: a BMP image, a format that is not read"):
        decode_rgb((tmp_path / "x.bmp").read_bytes(), "x.bmp")


def test_a_bmp_named_on_the_command_line_is_skipped_with_its_format_named(inputs, tmp_path):
    (tmp_path / "x.bmp").write_bytes(jpeg_bytes(0, FACE, fmt="BMP"))
    proc = faceattr_cli(
        ["predict", str(tmp_path / "x.bmp"), "photos/a.jpg", "--model", "model.pt", "--format", "json"],
        inputs,
        check=False,
    )
    assert proc.returncode == 0 and len(json.loads(proc.stdout)) == 1
    assert skipped(proc.stderr)["x.bmp"].startswith("a BMP image, a format that is not read")


# --- 4. files in folders have the zip entries' size cap ------------------------------------------------------------


def test_a_file_over_the_size_cap_is_skipped_unread_from_folders_and_paths(inputs, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "a.jpg").write_bytes((inputs / "photos" / "a.jpg").read_bytes())
    with open(folder / "huge.jpg", "wb") as fh:  # sparse: nothing big is written
        fh.truncate(MAX_IMAGE_MB * 2**20 + 1)
    with open(tmp_path / "named.png", "wb") as fh:
        fh.truncate(MAX_IMAGE_MB * 2**20 + 1)
    proc = faceattr_cli(
        ["predict", str(folder), str(tmp_path / "named.png"), "--model", "model.pt", "--format", "json"],
        inputs,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert [row["image"].rsplit("/", 1)[-1] for row in json.loads(proc.stdout)] == ["a.jpg"]
    reasons = skipped(proc.stderr)
    assert set(reasons) == {"huge.jpg", "named.png"} and proc.stderr.count("huge.jpg") == 1
    assert reasons["huge.jpg"] == f"64.0 MiB, over the {MAX_IMAGE_MB} MiB cap on one image)"  # by stat, unread
