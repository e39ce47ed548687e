import pytest

from faceattr.data.labels import clean_labels, parse_attribute_file
from faceattr.errors import FaceattrError

NAMES = ["Black_Hair", "Male", "Smiling"]
IMAGES = [f"{i:06d}.jpg" for i in range(1, 6)]


def official(rows, count=None):
    body = [f"{i} " + " ".join(f"{v:>2}" for v in vals) for i, vals in rows]
    return f"{len(rows) if count is None else count}\n{' '.join(NAMES)}\n" + "\n".join(body) + "\n"


ROWS = [(IMAGES[0], [1, -1, 1]), (IMAGES[1], [-1, 1, -1]), (IMAGES[2], [-1, -1, 1])]


def test_official_format(tmp_path):
    f = tmp_path / "list_attr_celeba.txt"
    f.write_text(official(ROWS))
    frame, report = clean_labels(f, ["Male", "Black_Hair"], IMAGES)
    assert list(frame.columns) == ["image_id", "Male", "Black_Hair"]
    assert frame.to_dict("list") == {"image_id": IMAGES[:3], "Male": [0, 1, 0], "Black_Hair": [1, 0, 0]}
    assert report["format"] == "official" and report["rows_kept"] == 3 and not report["count_mismatch"]


def test_kaggle_csv_and_filename_header_formats(tmp_path):
    csv = tmp_path / "list_attr_celeba.csv"
    csv.write_text("image_id," + ",".join(NAMES) + "\n" + "\n".join(f"{i}," + ",".join(map(str, v)) for i, v in ROWS))
    seed = tmp_path / "list_attr.txt"
    seed.write_text(
        "Filename "
        + " ".join(NAMES)
        + "\n"
        + "\n".join(f"{i} " + " ".join(str(int(x > 0)) for x in v) for i, v in ROWS)
    )
    a, ra = clean_labels(csv, "all", IMAGES)
    b, rb = clean_labels(seed, "all", IMAGES)
    assert ra["format"] == "kaggle_csv" and rb["format"] == "filename_header"
    assert a.equals(b)
    assert a["Black_Hair"].tolist() == [1, 0, 0]


def test_crlf_bom_tabs_are_accepted(tmp_path):
    f = tmp_path / "attrs.txt"
    text = official(ROWS).replace(" ", "\t").replace("\n", "\r\n")
    f.write_bytes(b"\xef\xbb\xbf" + text.encode())
    frame, report = clean_labels(f, NAMES, IMAGES)
    assert report["rows_kept"] == 3 and frame["Smiling"].tolist() == [1, 0, 1]


def test_bad_rows_reported_with_line_numbers(tmp_path, capsys):
    f = tmp_path / "attrs.txt"
    text = official(ROWS, count=5) + f"{IMAGES[3]} 1 -1\n{IMAGES[4]} 1 2 -1\n"
    f.write_text(text)
    frame, report = clean_labels(f, NAMES, IMAGES)
    assert report["rows_kept"] == 3 and report["rows_malformed"] == 2
    assert report["malformed_rows"] == [
        {"line": 6, "reason": "3 fields, expected 4"},
        {"line": 7, "reason": "value '2' is not one of -1, 0, 1"},
    ]
    assert report["count_mismatch"] is False  # 5 rows read, 5 declared
    err = capsys.readouterr().err
    assert "line 6" in err and "line 7" in err


def test_count_mismatch_is_a_warning(tmp_path, capsys):
    f = tmp_path / "attrs.txt"
    f.write_text(official(ROWS, count=10))
    _, report = clean_labels(f, NAMES, IMAGES)
    assert report["count_mismatch"] is True and report["declared_count"] == 10
    assert "count line says 10" in capsys.readouterr().err


def test_duplicate_ids_are_an_error(tmp_path):
    f = tmp_path / "attrs.txt"
    f.write_text(official(ROWS + [(IMAGES[1], [1, 1, 1])]))
    with pytest.raises(FaceattrError, match=r"line 6: duplicate image id '000002.jpg' \(first seen on line 4\)"):
        parse_attribute_file(f)


def test_unknown_attribute_lists_available(tmp_path):
    f = tmp_path / "attrs.txt"
    f.write_text(official(ROWS))
    with pytest.raises(FaceattrError, match="unknown attribute.*'Bald'.*has: Black_Hair Male Smiling"):
        clean_labels(f, ["Male", "Bald"], IMAGES)


def test_missing_and_bad_images_are_dropped_and_counted(tmp_path):
    f = tmp_path / "attrs.txt"
    f.write_text(official(ROWS))
    frame, report = clean_labels(f, NAMES, available_images=[IMAGES[0], IMAGES[4]], bad_images=[IMAGES[1]])
    assert frame["image_id"].tolist() == [IMAGES[0]]
    assert report["rows_bad_image"] == 1 and report["rows_missing_image"] == 1
    assert report["images_without_labels"] == 1


def test_missing_file_is_named(tmp_path):
    with pytest.raises(FaceattrError, match="nope.txt: attribute file not found"):
        clean_labels(tmp_path / "nope.txt", NAMES, IMAGES)
