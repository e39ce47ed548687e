"""Tests of the synthetic CelebA generator: determinism, file formats, label constraints, base rates."""

from __future__ import annotations

import dataclasses
import io
import zipfile
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faceattr.data.synth import (
    BOXES_FILE,
    CELEBA_ATTRIBUTES,
    RENDERED_ATTRIBUTES,
    generate_dataset,
    read_boxes,
    render_sample_grid,
)
from faceattr.errors import FaceattrError

FILES = ("img_align_celeba.zip", "list_attr_celeba.txt", "list_eval_partition.txt", "identity_CelebA.txt", BOXES_FILE)
SMALL = 40
HAIR = ("Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair")


def read_attrs(path: Path) -> tuple[int, list[str], dict[str, dict[str, int]]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    names = lines[1].split()
    rows = {}
    for line in lines[2:]:
        fields = line.split()
        rows[fields[0]] = dict(zip(names, (int(v) for v in fields[1:])))
        assert len(fields) == len(names) + 1
    return int(lines[0]), names, rows


def read_table(path: Path) -> dict[str, int]:
    table = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        name, value = line.split()
        table[name] = int(value)
    return table


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("small")
    return out, generate_dataset(out, count=SMALL, seed=3, workers=1)


@pytest.fixture(scope="module")
def large(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("large")
    return out, generate_dataset(out, count=1500, seed=0, workers=0)


def test_same_arguments_give_identical_bytes_whatever_the_worker_count(small, tmp_path):
    out, _ = small
    generate_dataset(tmp_path, count=SMALL, seed=3, workers=2)
    for name in FILES:
        assert (tmp_path / name).read_bytes() == (out / name).read_bytes(), name


def test_different_seed_gives_different_bytes(small, tmp_path):
    out, _ = small
    generate_dataset(tmp_path, count=SMALL, seed=4, workers=1)
    for name in ("img_align_celeba.zip", "list_attr_celeba.txt"):
        assert (tmp_path / name).read_bytes() != (out / name).read_bytes(), name


def test_only_the_four_celeba_files_and_the_boxes_side_file_are_written(small):
    out, _ = small
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)


def test_boxes_are_recorded_exactly_for_the_images_with_glasses_or_a_hat(large):
    """The side file says where the glasses and the hat were drawn: one box per positive image, none
    for the others, inside the image, glasses at eye level and hats above them."""
    out, _ = large
    _, _, rows = read_attrs(out / "list_attr_celeba.txt")
    boxes = read_boxes(out / BOXES_FILE)
    for attribute in ("Eyeglasses", "Wearing_Hat"):
        positive = {name for name, row in rows.items() if row[attribute] == 1}
        assert len(positive) > 20
        assert {name for name, b in boxes.items() if attribute in b} == positive, attribute
    glasses = np.array([b["Eyeglasses"] for b in boxes.values() if "Eyeglasses" in b])
    hats = np.array([b["Wearing_Hat"] for b in boxes.values() if "Wearing_Hat" in b])
    for found in (glasses, hats):
        assert (found[:, 0] >= 0).all() and (found[:, 2] <= 178).all() and (found[:, 3] <= 218).all()
        assert (found[:, 2] > found[:, 0]).all() and (found[:, 3] > found[:, 1]).all()
    eye_level = (glasses[:, 1] + glasses[:, 3]) / 2
    assert 95 < np.median(eye_level) < 125 and (glasses[:, 3] - glasses[:, 1]).max() < 50
    assert (hats[:, 1] + hats[:, 3]).mean() / 2 < eye_level.mean() - 30


def test_glasses_boxes_mark_where_the_frames_changed_the_picture(small, tmp_path):
    """Rendering the same image without its glasses changes pixels inside the recorded box, and (almost)
    nowhere else: the box is where the glasses are, not a guess."""
    from faceattr.data.synth.dataset import plan_identities
    from faceattr.data.synth.render import draw_photo, photo_rng
    from faceattr.data.synth.traits import sample_identity, sample_photo

    out, _ = small
    boxes = read_boxes(out / BOXES_FILE)
    name = next(n for n, b in boxes.items() if "Eyeglasses" in b)
    index = int(name[:6]) - 1
    plan = plan_identities(SMALL, 3, (1, 6))
    ident = next(i for i, start, n, _ in plan if start <= index < start + n)
    who = sample_identity(3, ident)

    def render(glasses: bool):
        r = photo_rng(3, index)  # the generator's own sequence: the photo's traits, then the picture
        photo = sample_photo(r, who)
        assert photo.glasses
        return draw_photo(r, who, dataclasses.replace(photo, glasses=glasses), (100, 100))

    _, with_glasses, recorded = render(True)
    _, without, _ = render(False)
    diff = (
        np.abs(
            np.asarray(Image.open(io.BytesIO(with_glasses)), dtype=int)
            - np.asarray(Image.open(io.BytesIO(without)), dtype=int)
        ).sum(axis=2)
        > 40
    )
    x0, y0, x1, y1 = (int(round(v)) for v in recorded["Eyeglasses"])
    inside = diff[y0 : y1 + 1, x0 : x1 + 1].sum()
    assert inside > 200 and inside / diff.sum() > 0.97


def test_zip_entries_are_decodable_celeba_sized_jpegs_in_order(small):
    out, _ = small
    with zipfile.ZipFile(out / "img_align_celeba.zip") as zf:
        infos = zf.infolist()
        assert [i.filename for i in infos] == [f"img_align_celeba/{k:06d}.jpg" for k in range(1, SMALL + 1)]
        qualities = set()
        for info in infos:
            assert info.compress_type == zipfile.ZIP_STORED
            assert info.date_time == (1980, 1, 1, 0, 0, 0)
            with Image.open(io.BytesIO(zf.read(info))) as im:
                assert im.format == "JPEG" and im.mode == "RGB" and im.size == (178, 218)
                im.load()
                qualities.add(im.quantization[0][0])
    assert len(qualities) > 1, "JPEG quality should vary per image"


def test_attribute_file_is_in_the_official_format(small):
    out, summary = small
    count, names, rows = read_attrs(out / "list_attr_celeba.txt")
    assert count == SMALL == len(rows) == summary["count"]
    assert tuple(names) == CELEBA_ATTRIBUTES and len(names) == 40
    assert list(rows) == [f"{k:06d}.jpg" for k in range(1, SMALL + 1)]
    assert all(v in (-1, 1) for row in rows.values() for v in row.values())
    first = (out / "list_attr_celeba.txt").read_text().splitlines()[2]
    assert first.startswith("000001.jpg") and len(first) == len("000001.jpg") + 3 * 40
    for name in CELEBA_ATTRIBUTES:
        rate = np.mean([rows[k][name] == 1 for k in rows])
        assert summary["positive_rate"][name] == pytest.approx(rate, abs=1e-4)


def test_partition_and_identity_files_cover_every_image_and_no_identity_spans_splits(small):
    out, summary = small
    images = [f"{k:06d}.jpg" for k in range(1, SMALL + 1)]
    split = read_table(out / "list_eval_partition.txt")
    ident = read_table(out / "identity_CelebA.txt")
    assert list(split) == images and list(ident) == images
    assert set(split.values()) == {0, 1, 2}
    assert all(i >= 1 for i in ident.values())
    splits_of = defaultdict(set)
    for name in images:
        splits_of[ident[name]].add(split[name])
    assert all(len(s) == 1 for s in splits_of.values())
    assert summary["identities"] == len(splits_of)
    counts = [list(split.values()).count(k) for k in range(3)]
    assert counts == [32, 4, 4] == [summary["splits"][n] for n in ("train", "val", "test")]


def pixel_statistics(image: bytes) -> tuple[float, float, float]:
    """Edge energy of the face area (mean |Laplacian| of the luma), the median luma of both cheeks, and the
    median luma of the crown (where the hair is), in the 178×218 picture."""
    luma = np.asarray(Image.open(io.BytesIO(image)).convert("L"), dtype=np.float32)
    face = luma[60:180, 40:140]
    edges = np.abs(4 * face[1:-1, 1:-1] - face[:-2, 1:-1] - face[2:, 1:-1] - face[1:-1, :-2] - face[1:-1, 2:]).mean()
    cheeks = np.median(np.concatenate([luma[125:145, 60:80].ravel(), luma[125:145, 98:118].ravel()]))
    return float(edges), float(cheeks), float(np.median(luma[40:60, 60:120]))


def test_drawn_traits_show_in_the_pixels_and_labels_without_a_cue_do_not(large):
    """The labels checked against the pictures rather than against the generator's own tables: simple pixel
    statistics of the 1,500 images rank the images of a drawn attribute above the others (Blurry: less edge
    energy; Pale_Skin: brighter cheeks; Black_Hair and Blond_Hair: a darker or brighter crown, hats and bald
    heads aside), and the same statistics say nothing of Pointy_Nose and Oval_Face, labels the generator
    samples without drawing anything (the four not in RENDERED_ATTRIBUTES)."""
    from sklearn.metrics import roc_auc_score

    out, _ = large
    _, _, rows = read_attrs(out / "list_attr_celeba.txt")
    with zipfile.ZipFile(out / "img_align_celeba.zip") as zf:
        stats = np.array([pixel_statistics(zf.read(f"img_align_celeba/{name}")) for name in rows])
    edges, cheeks, crown = stats.T
    label = {a: np.array([row[a] == 1 for row in rows.values()]) for a in CELEBA_ATTRIBUTES}
    hair_shows = ~label["Wearing_Hat"] & ~label["Bald"]

    def auc(attribute: str, score: np.ndarray, where: np.ndarray | None = None) -> float:
        where = np.ones(len(score), bool) if where is None else where
        return roc_auc_score(label[attribute][where], score[where])

    assert auc("Blurry", -edges) > 0.95
    assert auc("Pale_Skin", cheeks) > 0.9
    assert auc("Black_Hair", -crown, hair_shows) > 0.9 and auc("Blond_Hair", crown, hair_shows) > 0.9
    for attribute in ("Pointy_Nose", "Oval_Face"):
        assert attribute not in RENDERED_ATTRIBUTES
        for score, where in ((edges, None), (cheeks, None), (crown, hair_shows)):
            assert abs(auc(attribute, score, where) - 0.5) < 0.1, attribute


def test_label_constraints_hold(large):
    out, _ = large
    _, _, rows = read_attrs(out / "list_attr_celeba.txt")
    for row in rows.values():
        pos = {k for k, v in row.items() if v == 1}
        assert sum(h in pos for h in HAIR) <= 1
        if "Mustache" in pos or "Goatee" in pos or "Sideburns" in pos or "5_o_Clock_Shadow" in pos:
            assert "Male" in pos
        if "Heavy_Makeup" in pos:
            assert "Male" not in pos and "Wearing_Lipstick" in pos
        assert ("No_Beard" in pos) == ("Mustache" not in pos and "Goatee" not in pos)
        if "Bald" in pos:
            assert not pos & {*HAIR, "Bangs", "Wavy_Hair", "Straight_Hair", "Receding_Hairline"}
        assert not {"Wavy_Hair", "Straight_Hair"} <= pos


def test_person_traits_are_constant_within_an_identity(large):
    out, _ = large
    _, _, rows = read_attrs(out / "list_attr_celeba.txt")
    ident = read_table(out / "identity_CelebA.txt")
    fixed = ("Male", "Young", "Pale_Skin", *HAIR, "Bald", "Wavy_Hair", "Mustache")
    seen: dict[int, tuple] = {}
    for name, row in rows.items():
        traits = tuple(row[a] for a in fixed)
        assert seen.setdefault(ident[name], traits) == traits


def test_positive_rates_are_celeba_like(large):
    _, summary = large
    bounds = {
        "Male": (0.32, 0.52),
        "Eyeglasses": (0.03, 0.11),
        "Wearing_Hat": (0.02, 0.09),
        "Young": (0.68, 0.88),
        "Black_Hair": (0.15, 0.33),
        "Smiling": (0.40, 0.56),
        "Wavy_Hair": (0.22, 0.42),
        "Pale_Skin": (0.01, 0.09),
        "Heavy_Makeup": (0.28, 0.48),
        "Mustache": (0.01, 0.08),
    }
    rates = summary["positive_rate"]
    for name, (lo, hi) in bounds.items():
        assert lo <= rates[name] <= hi, (name, rates[name])
    assert summary["count"] == 1500
    assert 1500 / 6 <= summary["identities"] <= 1500


def test_render_sample_grid_writes_a_png(small, tmp_path):
    out, _ = small
    png = tmp_path / "grid" / "grid.png"
    render_sample_grid(out / "img_align_celeba.zip", out / "list_attr_celeba.txt", png, n=8)
    with Image.open(png) as im:
        assert im.format == "PNG" and im.width >= 178 * 4 and im.height >= 218
    assert [p.name for p in png.parent.iterdir()] == ["grid.png"]


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(FaceattrError):
        generate_dataset(tmp_path, count=0)
    with pytest.raises(FaceattrError):
        generate_dataset(tmp_path, count=5, quality=(90, 80))
    with pytest.raises(FaceattrError):
        generate_dataset(tmp_path, count=5, images_per_identity=(0, 3))
