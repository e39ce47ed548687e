import stat
import zipfile

import pytest
from helpers import jpeg_bytes, png_header_only

from faceattr.data.archive import extract_images
from faceattr.errors import FaceattrError

CAP = 10 * 2**20


def good_entries(n=3):
    return {f"img_align_celeba/{i:06d}.jpg": jpeg_bytes(i) for i in range(1, n + 1)}


def test_extracts_images_flat_and_reports(make_zip, tmp_path):
    archive = make_zip({**good_entries(3), "img_align_celeba/README.txt": b"hello"})
    report = extract_images(archive, tmp_path / "out", CAP)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["000001.jpg", "000002.jpg", "000003.jpg"]
    assert report["images_extracted"] == 3 and report["images_bad"] == 0 and report["non_image_entries"] == 1


@pytest.mark.parametrize("evil", ["../evil.jpg", "img/../../evil.jpg", "/abs/evil.jpg"])
def test_refuses_path_traversal_and_writes_nothing(make_zip, tmp_path, evil):
    archive = make_zip({**good_entries(2), evil: jpeg_bytes(9)})
    with pytest.raises(FaceattrError, match="refusing"):
        extract_images(archive, tmp_path / "out", CAP)
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "evil.jpg").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["images.zip"]  # no staging folder left behind


def test_refuses_symlink_entries(tmp_path):
    archive = tmp_path / "links.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("img_align_celeba/000001.jpg", jpeg_bytes(1))
        link = zipfile.ZipInfo("img_align_celeba/000002.jpg")
        link.create_system = 3
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
    with pytest.raises(FaceattrError, match="symbolic link"):
        extract_images(archive, tmp_path / "out", CAP)
    assert not (tmp_path / "out").exists()


def test_refuses_archives_over_the_cap(make_zip, tmp_path):
    archive = make_zip({"img_align_celeba/000001.jpg": jpeg_bytes(1), "big.bin": b"\0" * 3_000_000})
    with pytest.raises(FaceattrError, match="exceeds the cap"):
        extract_images(archive, tmp_path / "out", 2 * 2**20)
    assert not (tmp_path / "out").exists()


def test_bad_images_are_skipped_and_listed(make_zip, tmp_path):
    entries = good_entries(2)
    entries["img_align_celeba/000003.jpg"] = jpeg_bytes(3)[:200]  # truncated
    entries["img_align_celeba/000004.jpg"] = b""  # zero bytes
    entries["img_align_celeba/000005.jpg"] = jpeg_bytes(5, fmt="PNG")  # PNG renamed .jpg
    report = extract_images(make_zip(entries), tmp_path / "out", CAP)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["000001.jpg", "000002.jpg"]
    reasons = {b["image"]: b["reason"] for b in report["bad_images"]}
    assert set(reasons) == {"000003.jpg", "000004.jpg", "000005.jpg"}
    assert "empty" in reasons["000004.jpg"] and "PNG" in reasons["000005.jpg"]
    assert report["images_bad"] == 3 and report["images_extracted"] == 2


def test_on_bad_image_fail_stops_and_keeps_previous_output(make_zip, tmp_path):
    out = tmp_path / "out"
    extract_images(make_zip(good_entries(2), "good.zip"), out, CAP)
    entries = {**good_entries(1), "img_align_celeba/000009.jpg": jpeg_bytes(9)[:100]}
    with pytest.raises(FaceattrError, match="000009.jpg"):
        extract_images(make_zip(entries, "bad.zip"), out, CAP, on_bad_image="fail")
    assert sorted(p.name for p in out.iterdir()) == ["000001.jpg", "000002.jpg"]


def test_not_a_zip_is_a_clear_error(tmp_path):
    bogus = tmp_path / "img.zip"
    bogus.write_bytes(b"not a zip")
    with pytest.raises(FaceattrError, match="not a zip"):
        extract_images(bogus, tmp_path / "out", CAP)


def test_unreadable_entries_and_bombs_are_bad_images(tmp_path):
    archive = tmp_path / "hostile.zip"
    good = jpeg_bytes(1)
    crc_victim = jpeg_bytes(2)
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("img_align_celeba/000001.jpg", good)
        zf.writestr("img_align_celeba/000002.jpg", crc_victim)
        zf.writestr("img_align_celeba/000003.jpg", jpeg_bytes(3))  # marked encrypted below
        zf.writestr("img_align_celeba/000004.png", png_header_only(30000, 30000))  # over PIL's own bomb limit
        zf.writestr("img_align_celeba/000005.png", png_header_only(10000, 6000))  # over faceattr's 50 MP
        zf.writestr("img_align_celeba/000006.jpg", b"\xff" * 5000)  # over the per-image cap below
    raw = bytearray(archive.read_bytes())
    at = raw.index(crc_victim) + len(crc_victim) // 2
    raw[at] ^= 0xFF  # same length, wrong CRC
    name = b"img_align_celeba/000003.jpg"
    for signature, name_at, flag_at in ((b"PK\x03\x04", 30, 6), (b"PK\x01\x02", 46, 8)):  # local, central header
        start = next(
            i
            for i in range(len(raw))
            if raw[i : i + 4] == signature and raw[i + name_at : i + name_at + len(name)] == name
        )
        raw[start + flag_at] |= 0x1  # "encrypted": zipfile asks for a password
    archive.write_bytes(bytes(raw))
    report = extract_images(archive, tmp_path / "out", CAP, max_image_bytes=4000)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["000001.jpg"]
    reasons = {b["image"]: b["reason"] for b in report["bad_images"]}
    assert set(reasons) == {"000002.jpg", "000003.jpg", "000004.png", "000005.png", "000006.jpg"}
    assert "corrupt archive entry" in reasons["000002.jpg"] and "CRC" in reasons["000002.jpg"]
    assert "password" in reasons["000003.jpg"]
    assert "decompression-bomb limit" in reasons["000004.png"]
    assert "10000×6000 (60 megapixels) is over the limit of 50 megapixels" in reasons["000005.png"]
    assert "cap" in reasons["000006.jpg"]
    with pytest.raises(FaceattrError, match=r"000002\.jpg: corrupt archive entry .*'fail'"):  # not a traceback
        extract_images(archive, tmp_path / "out", CAP, on_bad_image="fail", max_image_bytes=4000)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["000001.jpg"]  # the earlier output is kept


def test_tiny_images_are_extracted_and_listed(make_zip, tmp_path):
    entries = {
        "img_align_celeba/000001.jpg": jpeg_bytes(1, size=(40, 48)),
        "img_align_celeba/000002.jpg": jpeg_bytes(2, size=(1, 1)),
    }
    report = extract_images(make_zip(entries), tmp_path / "out", CAP)
    assert report["images_extracted"] == 2
    assert report["small_images"] == [{"image": "000002.jpg", "smallest_side": 1}]
