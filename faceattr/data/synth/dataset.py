"""Writing a data set: the zip of JPEGs, CelebA's three label files, the boxes side file; and the sample grid."""

from __future__ import annotations

import io
import math
import os
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from faceattr.atomic import atomic_path, write_text
from faceattr.data.attributes import CELEBA_ATTRIBUTES
from faceattr.data.synth.geometry import IMAGE_HEIGHT, IMAGE_WIDTH
from faceattr.data.synth.render import Boxes, render_task
from faceattr.data.synth.traits import RENDERED_ATTRIBUTES, sample_identity
from faceattr.errors import FaceattrError

# Beside the CelebA-format files (not part of them): where each image's glasses and hat were drawn, as
# image_id,attribute,x0,y0,x1,y1 in the 178×218 image's pixels, so tests can check where a model looks.
BOXES_FILE = "attribute_boxes.csv"
BOXED_ATTRIBUTES = ("Eyeglasses", "Wearing_Hat")
ZIP_DIR = "img_align_celeba"
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def plan_identities(count: int, seed: int, images_per_identity: tuple[int, int]) -> list[tuple[int, int, int, int]]:
    """(identity id, first image index, image count, split) for consecutive runs of images.

    Splits are contiguous blocks of ~80/10/10 %; an identity never crosses a block boundary, so no
    identity spans two splits, and with 3 or more images every split is non-empty.
    """
    lo, hi = images_per_identity
    if lo < 1 or hi < lo:
        raise FaceattrError(
            f"synth.images_per_identity must be (lo, hi) with 1 <= lo <= hi, got {images_per_identity!r}"
        )
    if count >= 3:
        b1 = max(1, min(count - 2, int(round(0.8 * count))))
        b2 = max(b1 + 1, min(count - 1, int(round(0.9 * count))))
    else:
        b1, b2 = count, count
    plan, pos, ident = [], 0, 0
    while pos < count:
        ident += 1
        n = int(np.random.default_rng([seed, 3, ident]).integers(lo, hi + 1))
        nxt = min(b for b in (b1, b2, count) if b > pos)
        n = min(n, nxt - pos)
        split = 0 if pos < b1 else (1 if pos < b2 else 2)
        plan.append((ident, pos, n, split))
        pos += n
    return plan


def generate_dataset(
    out_dir: Path,
    count: int = 3000,
    seed: int = 0,
    quality: tuple[int, int] = (75, 95),
    images_per_identity: tuple[int, int] = (1, 6),
    workers: int = 0,
) -> dict:
    """Writes out_dir/img_align_celeba.zip, list_attr_celeba.txt, list_eval_partition.txt, identity_CelebA.txt (and the side file BOXES_FILE); returns a small summary dict (count, identities, positive rate per attribute).

    Output bytes depend only on the arguments other than `workers` (0 = one per CPU core), so the
    data can be regenerated instead of stored. Each file is written beside its target and renamed into
    place, so an interrupted run never leaves a half-written file.
    """
    out_dir = Path(out_dir)
    if count < 1:
        raise FaceattrError(f"synth.count must be >= 1, got {count}")
    q_lo, q_hi = int(quality[0]), int(quality[1])
    if not 1 <= q_lo <= q_hi <= 100:
        raise FaceattrError(f"synth.quality must be (lo, hi) with 1 <= lo <= hi <= 100, got {quality!r}")
    out_dir.mkdir(parents=True, exist_ok=True)
    plan = plan_identities(count, seed, images_per_identity)
    tasks, ident_of, split_of = _render_tasks(plan, seed, (q_lo, q_hi))
    # automatic (0): one per core, but no pool for a handful of images
    n_workers = min(os.cpu_count() or 1, max(1, count // 64)) if workers == 0 else max(1, int(workers))
    zip_path = out_dir / "img_align_celeba.zip"
    rows: list[list[int]] = []
    box_lines = ["image_id,attribute,x0,y0,x1,y1"]

    def record(i: int, labels: dict[str, bool], boxes: Boxes) -> None:
        rows.append([1 if labels[a] else -1 for a in CELEBA_ATTRIBUTES])
        box_lines.extend(
            f"{i + 1:06d}.jpg,{name},{','.join(f'{v:.1f}' for v in boxes[name])}"
            for name in BOXED_ATTRIBUTES
            if name in boxes
        )

    with atomic_path(zip_path) as tmp_zip:
        with zipfile.ZipFile(tmp_zip, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:

            def put(i: int, data: bytes) -> None:
                info = zipfile.ZipInfo(f"{ZIP_DIR}/{i + 1:06d}.jpg", date_time=_ZIP_DATE)
                info.compress_type = zipfile.ZIP_STORED
                info.create_system = 3
                info.external_attr = 0o100644 << 16
                zf.writestr(info, data)

            if n_workers > 1:
                import multiprocessing

                with multiprocessing.get_context().Pool(n_workers) as pool:
                    for i, (labels, data, boxes) in enumerate(pool.imap(render_task, tasks, chunksize=16)):
                        record(i, labels, boxes)
                        put(i, data)
            else:
                for i, task in enumerate(tasks):
                    labels, data, boxes = render_task(task)
                    record(i, labels, boxes)
                    put(i, data)

    _write_label_files(out_dir, rows, split_of, ident_of, box_lines)

    values = np.asarray(rows, dtype=np.int8)
    rates = ((values == 1).mean(axis=0)).tolist()
    return {
        "count": count,
        "identities": len(plan),
        "splits": {name: split_of.count(k) for k, name in enumerate(("train", "val", "test"))},
        "positive_rate": {a: round(float(p), 4) for a, p in zip(CELEBA_ATTRIBUTES, rates)},
    }


def _render_tasks(plan: list, seed: int, quality: tuple[int, int]) -> tuple[list, list[int], list[int]]:
    """`render_task`'s arguments for every image in order, with each image's identity and split."""
    tasks, ident_of, split_of = [], [], []
    for ident, start, n, split in plan:
        who = sample_identity(seed, ident)
        for k in range(n):
            tasks.append((seed, start + k, who, quality))
            ident_of.append(ident)
            split_of.append(split)
    return tasks, ident_of, split_of


def _write_label_files(
    out_dir: Path, rows: list[list[int]], split_of: list[int], ident_of: list[int], box_lines: list[str]
) -> None:
    """CelebA's three label files (attributes, split, identity) and the boxes side file, each atomically."""
    count = len(rows)
    names = [f"{i + 1:06d}.jpg" for i in range(count)]
    attr_lines = [str(count), " ".join(CELEBA_ATTRIBUTES)]
    attr_lines += [name + "".join(f"{v:>3d}" for v in row) for name, row in zip(names, rows)]
    write_text(out_dir / "list_attr_celeba.txt", "\n".join(attr_lines) + "\n")
    write_text(out_dir / "list_eval_partition.txt", "".join(f"{n} {s}\n" for n, s in zip(names, split_of)))
    write_text(out_dir / "identity_CelebA.txt", "".join(f"{n} {i}\n" for n, i in zip(names, ident_of)))
    write_text(out_dir / BOXES_FILE, "\n".join(box_lines) + "\n")


def read_boxes(path: str | Path) -> dict[str, dict[str, tuple[float, float, float, float]]]:
    """The side file of `generate_dataset`: image id -> attribute -> (x0, y0, x1, y1) in image pixels."""
    out: dict[str, dict[str, tuple[float, float, float, float]]] = {}
    for line in Path(path).read_text().splitlines()[1:]:
        image_id, name, *values = line.split(",")
        out.setdefault(image_id, {})[name] = tuple(float(v) for v in values)
    return out


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has no sized default font
        return ImageFont.load_default()


def render_sample_grid(zip_path: Path, attr_path: Path, png_path: Path, n: int = 24) -> None:
    """A labelled grid (matplotlib or PIL) of the first n images with their positive rendered attributes as captions, so a person can check faces and labels.

    Drawn with PIL only (no display or matplotlib backend needed); the PNG is written atomically.
    """
    zip_path, attr_path, png_path = Path(zip_path), Path(attr_path), Path(png_path)
    lines = [ln.split() for ln in attr_path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    header = lines[1] if lines and lines[0][0].isdigit() else lines[0]
    body = lines[2:] if lines and lines[0][0].isdigit() else lines[1:]
    labels = {row[0]: {name for name, v in zip(header, row[1:]) if v in ("1", "+1")} for row in body}
    rendered = [a for a in header if a in RENDERED_ATTRIBUTES]
    with zipfile.ZipFile(zip_path) as zf:
        entries = sorted(i.filename for i in zf.infolist() if i.filename.lower().endswith(".jpg"))[:n]
        images = [(_basename(e), Image.open(io.BytesIO(zf.read(e))).convert("RGB")) for e in entries]
    font = _font(11)
    cols = min(6, max(1, len(images)))
    cap_h = 92
    cell_w, cell_h = IMAGE_WIDTH + 8, IMAGE_HEIGHT + cap_h
    rows_n = max(1, math.ceil(len(images) / cols))
    sheet = Image.new("RGB", (cols * cell_w, rows_n * cell_h), (255, 255, 255))
    d = ImageDraw.Draw(sheet)
    for k, (name, im) in enumerate(images):
        x, y = (k % cols) * cell_w + 4, (k // cols) * cell_h + 2
        sheet.paste(im.resize((IMAGE_WIDTH, IMAGE_HEIGHT)), (x, y))
        pos = [a for a in rendered if a in labels.get(name, set())]
        words = [name + ":"] + pos
        text_lines, cur = [], ""
        for w in words:
            cand = (cur + " " + w).strip()
            if d.textlength(cand, font=font) > IMAGE_WIDTH and cur:
                text_lines.append(cur)
                cur = w
            else:
                cur = cand
        text_lines.append(cur)
        for j, t in enumerate(text_lines[:7]):
            d.text((x, y + IMAGE_HEIGHT + 2 + 12.5 * j), t, fill=(0, 0, 0), font=font)
    png_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(png_path) as tmp:
        # 256 colours keep the grid small enough to live in git beside the other plots.
        sheet.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
            tmp, format="PNG", optimize=True
        )


def _basename(entry: str) -> str:
    return entry.replace("\\", "/").rsplit("/", 1)[-1]
