"""The whole pipeline fed a hostile dataset: each problem is refused or reported as specified, the good
images still train, and the reports count every case."""

from __future__ import annotations

import json
import stat
import zipfile
from pathlib import Path

import pytest

from faceattr.synth import generate_dataset
from helpers import TINY, jpeg_bytes, make_clone, merge, run

HOSTILE = merge(TINY, {"data": {"dir": "data/raw/hostile", "images": "img_align_celeba.zip",
                                "attributes": "list_attr_celeba.txt"},
                       "unzip": {"max_uncompressed_mb": 2}})


def rezip(source: Path, dest: Path, extra: dict[str, bytes], links: tuple[str, ...] = ()) -> None:
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(dest, "w") as out:
        for info in src.infolist():
            out.writestr(info, src.read(info))
        for name, data in extra.items():
            out.writestr(name, data)
        for name in links:
            link = zipfile.ZipInfo(name)
            link.create_system = 3
            link.external_attr = (stat.S_IFLNK | 0o777) << 16
            out.writestr(link, "../../etc/passwd")


@pytest.mark.e2e
def test_hostile_dataset_end_to_end(tmp_path):
    clone = make_clone(tmp_path / "repo", HOSTILE)
    raw = clone / "data/raw/hostile"
    generate_dataset(tmp_path / "good", count=80, seed=5, workers=1)
    raw.mkdir(parents=True)
    good_zip = tmp_path / "good/img_align_celeba.zip"

    # Archives refused whole, with nothing extracted: zip-slip, a symlink, a zip bomb.
    for extra, links, message in [
        ({"img_align_celeba/../../evil.jpg": jpeg_bytes(1)}, (), "'..'"),
        ({}, ("img_align_celeba/000099.jpg",), "symbolic link"),
        ({"img_align_celeba/padding.bin": b"\0" * (3 * 2**20)}, (), "exceeds the cap"),
    ]:
        rezip(good_zip, raw / "img_align_celeba.zip", extra, links)
        (raw / "list_attr_celeba.txt").write_text((tmp_path / "good/list_attr_celeba.txt").read_text())
        proc = run(["dvc", "repro"], clone, check=False)
        assert proc.returncode != 0 and message in proc.stderr + proc.stdout
        assert not (clone / "data/interim/img_align_celeba").exists()
        assert not (tmp_path / "evil.jpg").exists() and not (clone / "evil.jpg").exists()

    # Bad images inside an otherwise good archive are reported and left out.
    rezip(good_zip, raw / "img_align_celeba.zip", {
        "img_align_celeba/000081.jpg": jpeg_bytes(81)[:150],           # truncated
        "img_align_celeba/000082.jpg": b"",                             # zero bytes
        "img_align_celeba/000083.jpg": jpeg_bytes(83, fmt="PNG"),       # a PNG named .jpg
        "img_align_celeba/notes.txt": b"not an image",
    })
    # A label file with a BOM, CRLF line ends, tabs, short rows, a bad value and a wrong count line.
    lines = (tmp_path / "good/list_attr_celeba.txt").read_text().splitlines()
    header, rows = lines[1], lines[2:]
    rows = [r.replace("  ", "\t") for r in rows]
    rows[3] = rows[3].rsplit(None, 2)[0]                                  # short row (line 6)
    rows[10] = rows[10].rsplit(None, 1)[0]                                # short row (line 13)
    rows[20] = rows[20][:-2] + " 7"                                       # bad value (line 23)
    rows += [f"{n:06d}.jpg" + " -1" * 40 for n in (81, 82, 83)]           # rows of the bad images
    rows += ["000090.jpg" + " 1" * 40]                                    # a row whose image is missing
    text = "\r\n".join(["999", header, *rows]) + "\r\n"
    (raw / "list_attr_celeba.txt").write_bytes(b"\xef\xbb\xbf" + text.encode())

    proc = run(["dvc", "repro"], clone)
    assert "count line says 999" in proc.stderr
    unzip = json.loads((clone / "data/interim/unzip_report.json").read_text())
    assert unzip["images_extracted"] == 80 and unzip["images_bad"] == 3 and unzip["non_image_entries"] == 1
    assert sorted(b["image"] for b in unzip["bad_images"]) == ["000081.jpg", "000082.jpg", "000083.jpg"]
    labels = json.loads((clone / "data/processed/label_report.json").read_text())
    assert labels["rows_read"] == 84 and labels["count_mismatch"] and labels["declared_count"] == 999
    assert [r["line"] for r in labels["malformed_rows"]] == [6, 13, 23]
    assert labels["rows_bad_image"] == 3 and labels["rows_missing_image"] == 1
    assert labels["rows_kept"] == 77
    assert (clone / "models/model.pt").is_file()
    assert len((clone / "plots/predictions.csv").read_text().splitlines()) == 1 + 6  # the 6 test images
    assert "mean_accuracy" in json.loads((clone / "metrics/eval.json").read_text())

    # Duplicate ids are an error naming both lines; the earlier outputs stay.
    model = (clone / "models/model.pt").read_bytes()
    (raw / "list_attr_celeba.txt").write_bytes(b"\xef\xbb\xbf" + (text + rows[0] + "\r\n").encode())
    proc = run(["dvc", "repro"], clone, check=False)
    assert proc.returncode != 0 and "duplicate image id '000001.jpg' (first seen on line 3)" in proc.stderr
    assert (clone / "models/model.pt").read_bytes() == model
