"""The whole pipeline fed a hostile dataset: an archive that tries to write outside its folder is refused
whole, bad images and a messy label file are reported and left out while the good images still train, and
duplicate ids stop the run with the earlier outputs kept.

One `dvc repro` of a refused archive (zip-slip) stays end to end: it shows the stage's refusal stops DVC with
nothing extracted, in or out of the clone. The other refusals are faceattr.data.archive's, checked in
milliseconds by test_archive.py (a symbolic link: test_refuses_symlink_entries; past the cap:
test_refuses_archives_over_the_cap); what only the stage adds, reading unzip.max_uncompressed_mb and
unzip.on_bad_image from params.yaml, is checked here by running the stage in-process on a small zip.
"""

from __future__ import annotations

import csv
import json
import shutil
import zipfile
from pathlib import Path

import pytest
import yaml
from helpers import DEFAULT_PARAMS, TINY, jpeg_bytes, make_clone, merge, run, write_zip

from faceattr.data.synth import generate_dataset

HOSTILE = merge(
    TINY,
    {
        "data": {"dir": "data/raw/hostile", "images": "img_align_celeba.zip", "attributes": "list_attr_celeba.txt"},
        "unzip": {"max_uncompressed_mb": 2},
    },
)


def rezip(source: Path, dest: Path, extra: dict[str, bytes]) -> None:
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(dest, "w") as out:
        for info in src.infolist():
            out.writestr(info, src.read(info))
        for name, data in extra.items():
            out.writestr(name, data)


@pytest.mark.parametrize(
    "unzip, extra, message",
    [
        ({"max_uncompressed_mb": 2}, {"img_align_celeba/padding.bin": b"\0" * (3 * 2**20)}, "exceeds the cap"),
        ({"on_bad_image": "fail"}, {"img_align_celeba/000009.jpg": jpeg_bytes(9)[:150]}, "000009.jpg"),
    ],
    ids=["max_uncompressed_mb", "on_bad_image"],
)
def test_the_unzip_stage_takes_its_limits_from_params(tmp_path, monkeypatch, capsys, unzip, extra, message):
    """The unzip stage applies params.yaml's unzip.* (here tighter than the defaults, which let the same
    archive through): it stops with a one-line error and extracts nothing."""
    from faceattr.pipeline.stage import run_stage
    from stages import unzip as unzip_stage

    def unzip_with(settings: dict) -> None:
        params = merge(DEFAULT_PARAMS, {"data": HOSTILE["data"], "unzip": settings})
        (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        run_stage(unzip_stage.main)

    monkeypatch.chdir(tmp_path)
    (tmp_path / "data/raw/hostile").mkdir(parents=True)
    write_zip(
        tmp_path / "data/raw/hostile/img_align_celeba.zip",
        {**{f"img_align_celeba/{i:06d}.jpg": jpeg_bytes(i) for i in range(1, 4)}, **extra},
    )
    unzip_with(DEFAULT_PARAMS["unzip"])
    assert len(list((tmp_path / "data/interim/img_align_celeba").iterdir())) == 3
    shutil.rmtree(tmp_path / "data/interim")
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        unzip_with({**DEFAULT_PARAMS["unzip"], **unzip})
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err
    assert not (tmp_path / "data/interim/img_align_celeba").exists()
    assert not (tmp_path / "data/interim/unzip_report.json").exists()


@pytest.mark.e2e
def test_hostile_dataset_end_to_end(tmp_path):
    clone = make_clone(tmp_path / "repo", HOSTILE)
    raw = clone / "data/raw/hostile"
    generate_dataset(tmp_path / "good", count=80, seed=5, workers=1)
    raw.mkdir(parents=True)
    good_zip = tmp_path / "good/img_align_celeba.zip"

    # An archive refused whole, with nothing extracted anywhere: an entry that climbs out of its folder.
    rezip(good_zip, raw / "img_align_celeba.zip", {"img_align_celeba/../../evil.jpg": jpeg_bytes(1)})
    (raw / "list_attr_celeba.txt").write_text((tmp_path / "good/list_attr_celeba.txt").read_text())
    proc = run(["dvc", "repro"], clone, check=False)
    assert proc.returncode != 0 and "'..'" in proc.stderr + proc.stdout
    assert "Running stage 'clean_labels'" not in proc.stdout  # DVC stopped at the refusal
    assert not (clone / "data/interim/img_align_celeba").exists()
    assert not list((clone / "data").rglob("evil.jpg")) and not list(tmp_path.rglob("evil.jpg"))

    # Bad images inside an otherwise good archive are reported and left out.
    rezip(
        good_zip,
        raw / "img_align_celeba.zip",
        {
            "img_align_celeba/000081.jpg": jpeg_bytes(81)[:150],  # truncated
            "img_align_celeba/000082.jpg": b"",  # zero bytes
            "img_align_celeba/000083.jpg": jpeg_bytes(83, fmt="PNG"),  # a PNG named .jpg
            "img_align_celeba/notes.txt": b"not an image",
        },
    )
    # A label file with a BOM, CRLF line ends, tabs, short rows, a bad value and a wrong count line.
    lines = (tmp_path / "good/list_attr_celeba.txt").read_text().splitlines()
    header, rows = lines[1], lines[2:]
    rows = [r.replace("  ", "\t") for r in rows]
    rows[3] = rows[3].rsplit(None, 2)[0]  # short row (line 6)
    rows[10] = rows[10].rsplit(None, 1)[0]  # short row (line 13)
    rows[20] = rows[20][:-2] + " 7"  # bad value (line 23)
    rows += [f"{n:06d}.jpg" + " -1" * 40 for n in (81, 82, 83)]  # rows of the bad images
    rows += ["000090.jpg" + " 1" * 40]  # a row whose image is missing
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
    # what was left out is nowhere downstream: the clean labels hold exactly the 77 good rows, and the test
    # split the model was evaluated on is drawn from them
    kept = [f"{n:06d}.jpg" for n in range(1, 81) if n not in (4, 11, 21)]  # the malformed rows' images
    with open(clone / "data/processed/labels.csv", newline="") as f:
        assert [r["image_id"] for r in csv.DictReader(f)] == kept
    assert (clone / "models/model.pt").is_file()
    with open(clone / "plots/predictions.csv", newline="") as f:
        tested = [r["image_id"] for r in csv.DictReader(f)]
    assert len(tested) == 6 and set(tested) <= set(kept)  # the 6 test images of the 60-image subset

    # Duplicate ids are an error naming both lines; the earlier outputs stay.
    model = (clone / "models/model.pt").read_bytes()
    (raw / "list_attr_celeba.txt").write_bytes(b"\xef\xbb\xbf" + (text + rows[0] + "\r\n").encode())
    proc = run(["dvc", "repro"], clone, check=False)
    assert proc.returncode != 0 and "duplicate image id '000001.jpg' (first seen on line 3)" in proc.stderr
    assert (clone / "models/model.pt").read_bytes() == model
