"""`faceattr predict --detect`: faces found in a photo, aligned as CelebA's crops, reported with their boxes.

The photo is made of synthetic faces pasted 1:1 at known places on a larger background (faceattr.demo).
"""

import csv
import io
import json
import sys

import numpy as np
import pytest
import torch

from faceattr import demo, detect
from faceattr.cli import main
from faceattr.detect import (CELEBA_LEFT_EYE, CELEBA_RIGHT_EYE, BOX_CENTRE_IN_CROP, box_to_celeba, detect_faces,
                             similarity_to_celeba)
from faceattr.errors import FaceattrError
from faceattr.evaluation import predict_probabilities
from faceattr.images import decode_rgb, resize_to
from faceattr.models import ModelSpec, build_model, load_model, save_model

ATTRS = ["Male", "Smiling", "Young"]
PLACES = demo.places(2)  # top-left corner (x, y) of each pasted 178×218 face
FACE_W, FACE_H = demo.FACE_WIDTH, demo.FACE_HEIGHT


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("detect")
    torch.manual_seed(0)
    model = build_model("mobilenet_v2", len(ATTRS), alpha=0.25)
    # Freshly initialised, the network's signal fades to nothing in eval mode (every probability 0.5); batch-norm
    # statistics from one batch of noise make its answers depend on the image, so the test can compare them.
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = None
    with torch.no_grad():
        model.train()(torch.rand(16, 3, 64, 52))
    model.eval()
    save_model(root / "model.pt", model, ModelSpec("mobilenet_v2", 0.25, ATTRS, (64, 52)))
    made = demo.demo_photo(faces=2, seed=1)
    assert made.places == PLACES
    (root / "photo.jpg").write_bytes(demo.jpeg(made.rgb))
    (root / "sideways.jpg").write_bytes(demo.jpeg(np.ascontiguousarray(np.rot90(made.rgb)), orientation=6))
    (root / "empty.jpg").write_bytes(demo.jpeg(demo.background(seed=2)))
    (root / "notes.txt").write_text("not an image\n")
    synth, chosen = list(demo.synthetic_faces()), made.faces
    return {"root": root, "synth": synth, "chosen": chosen}


def _predict(setup, *args: str) -> list[str]:
    return ["predict", *args, "--model", str(setup["root"] / "model.pt")]


def _within(box: list[int], place: tuple[int, int], slack: int = 5) -> bool:
    """Whether a face box lies inside the pasted face's rectangle (the face fills only part of it)."""
    x, y, w, h = box
    return (place[0] - slack <= x and x + w <= place[0] + FACE_W + slack
            and place[1] - slack <= y and y + h <= place[1] + FACE_H + slack and w >= FACE_W / 3)


def test_one_row_per_pasted_face_with_its_box(setup, capsys):
    photo = setup["root"] / "photo.jpg"
    assert main(_predict(setup, str(photo), "--detect", "--format", "json", "--precision", "fp32")) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == len(PLACES)
    assert [r["face"] for r in rows] == [0, 1] and all(r["image"] == str(photo) for r in rows)
    for row, place in zip(rows, PLACES):  # faces are numbered left to right, as pasted
        assert set(row) == {"image", "face", "box", *ATTRS}
        assert _within(row["box"], place), (row["box"], place)
    # The probabilities are the model's on the aligned crops, resized by the usual code path.
    model, spec = load_model(setup["root"] / "model.pt")
    crops = torch.stack([resize_to(f.crop, spec.image_size) for f in detect_faces(decode_rgb(photo.read_bytes()))])
    expected = predict_probabilities(model, spec, crops)
    for row, p in zip(rows, expected):
        assert [row[a]["probability"] for a in ATTRS] == pytest.approx(p.tolist(), abs=1e-4)
    assert rows[0]["Male"]["probability"] != rows[1]["Male"]["probability"]  # each row is its own face's


def test_photo_stored_sideways_is_turned_upright_by_its_exif_orientation(setup, capsys):
    assert main(_predict(setup, str(setup["root"] / "sideways.jpg"), "--detect", "--format", "json")) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == len(PLACES) and all(_within(r["box"], place) for r, place in zip(rows, PLACES))


def test_aligned_crop_is_celeba_like(setup):
    """Each crop shows the pasted face framed as CelebA's crops are, whatever surrounds it in the photo.

    Synthetic faces are drawn larger and tilted a little (their eyes ~44 px apart, CelebA's 39), so a good
    crop is not the synthetic image itself: its eyes, found again in the crop, must sit where CelebA's are,
    and its inner face must match the same face aligned standing alone far better than any other face.
    """
    faces = detect_faces(decode_rgb((setup["root"] / "photo.jpg").read_bytes()))
    assert len(faces) == len(PLACES)
    alone = {j: found[0].crop for j, img in enumerate(setup["synth"]) if (found := detect_faces(img))}
    inner = (slice(None), slice(80, 170), slice(40, 138))  # eyes to chin, cheek to cheek

    def mad(a: torch.Tensor, b: torch.Tensor) -> float:
        return (a[inner].float() - b[inner].float()).abs().mean().item()

    for face, k, place in zip(faces, setup["chosen"], PLACES):
        assert face.eyes is not None and tuple(face.crop.shape) == (3, 218, 178)
        for ex, ey in face.eyes:  # found inside the pasted face, in its upper half
            assert place[0] < ex < place[0] + FACE_W and place[1] < ey < place[1] + FACE_H * 0.6
        again = detect_faces(face.crop)
        assert len(again) == 1 and again[0].eyes is not None
        assert np.abs(np.array(again[0].eyes) - [CELEBA_LEFT_EYE, CELEBA_RIGHT_EYE]).max() <= 3
        own = mad(face.crop, alone[k])
        others = [mad(face.crop, crop) for j, crop in alone.items() if j != k]
        assert own < 0.5 * min(others), (own, sorted(others)[:3])


def test_similarity_maps_the_eyes_onto_celeba_positions():
    for left, right in [((100.0, 200.0), (160.0, 190.0)), ((31.5, 47.2), (52.0, 61.0)), ((400, 300), (520, 300))]:
        m = similarity_to_celeba(left, right)
        assert m[0, 0] == pytest.approx(m[1, 1]) and m[0, 1] == pytest.approx(-m[1, 0])  # rotation + scale only
        for (x, y), target in [(left, CELEBA_LEFT_EYE), (right, CELEBA_RIGHT_EYE)]:
            assert np.abs(m @ [x, y, 1.0] - target).max() < 0.5


def test_box_fallback_puts_the_box_where_celeba_crops_have_it():
    m = box_to_celeba((200, 100, 70, 70))
    assert np.abs(m @ [235.0, 135.0, 1.0] - BOX_CENTRE_IN_CROP).max() < 1e-9
    assert m[0, 1] == m[1, 0] == 0 and m[0, 0] == m[1, 1]


def test_csv_and_table_report_the_boxes(setup, capsys):
    photo = str(setup["root"] / "photo.jpg")
    assert main(_predict(setup, photo, "--detect", "--format", "csv")) == 0
    table = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert table[0][:7] == ["image", "face", "box_x", "box_y", "box_w", "box_h", "Male_prob"]
    assert len(table) == 1 + len(PLACES)
    for line, place in zip(table[1:], PLACES):
        assert _within([int(v) for v in line[2:6]], place)
    assert main(_predict(setup, photo, "--detect")) == 0
    out = capsys.readouterr().out
    assert "photo.jpg face 0 (box x,y,w,h = " in out and "photo.jpg face 1 (box" in out and "Smiling" in out


def test_photo_without_a_face_is_reported_and_fails_alone(setup, capsys):
    assert main(_predict(setup, str(setup["root"] / "empty.jpg"), "--detect", "--format", "json")) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out) == []
    assert "warning: " in captured.err and "empty.jpg: no face found" in captured.err


def test_non_image_is_a_clear_error_and_the_rest_still_run(setup, capsys):
    root = setup["root"]
    rc = main(_predict(setup, str(root / "notes.txt"), str(root / "photo.jpg"), str(root / "empty.jpg"),
                       "--detect", "--format", "json"))
    captured = capsys.readouterr()
    assert rc == 0 and len(json.loads(captured.out)) == len(PLACES)
    assert "notes.txt: skipped (not a readable image" in captured.err
    assert "empty.jpg: no face found" in captured.err
    assert main(_predict(setup, str(root / "notes.txt"), "--detect")) == 1  # nothing at all predicted


@pytest.fixture
def fresh_cascades():
    detect._cascade.cache_clear()
    yield
    detect._cascade.cache_clear()


def test_missing_opencv_or_cascade_is_a_clear_error(setup, fresh_cascades, monkeypatch, tmp_path, capsys):
    import cv2

    monkeypatch.setattr(cv2.data, "haarcascades", str(tmp_path) + "/")
    assert main(_predict(setup, str(setup["root"] / "photo.jpg"), "--detect")) == 2
    err = capsys.readouterr().err
    assert "haarcascade_frontalface_default.xml not found" in err and "pip install 'opencv-python-headless<5'" in err
    monkeypatch.setitem(sys.modules, "cv2", None)  # as if OpenCV were not installed
    with pytest.raises(FaceattrError, match=r"needs OpenCV.*pip install 'opencv-python-headless<5'"):
        detect.detect_faces(torch.zeros((3, 64, 64), dtype=torch.uint8))
