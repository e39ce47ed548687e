"""Face detection and alignment on photos, mtcnn against haar: faces found, false detections, eye error, speed.

Photos are composed, so the truth is known: aligned 178×218 faces (synthetic ones from faceattr.data.synth, whose
eye centres are recorded where they were drawn; with --celeba also real CelebA crops, read straight from
img_align_celeba_fullres.zip, whose eyes are taken to be at CelebA's mean positions) are pasted scaled
0.6–1.6× and rotated ±25° with a feathered oval mask onto a cluttered 640×480 background, four per photo.
For each detector:
- found / pasted: a pasted face counts as found when a detected box's centre lies within 0.35 face-widths
  of its centre; any other detection (and a second one on the same face) is a false detection;
- eye error (px, in the 178×218 crop): the true eye centres mapped through the detector's photo→crop
  transform, against CelebA's eye positions (faceattr.predict.detect.CELEBA_LEFT_EYE/RIGHT_EYE), per found face;
- ms per 640×480 photo: the median over --repeats of each photo's detect_faces time, averaged.
Also skimage.data.astronaut() (a real photo shipped inside scikit-image): faces found, probability, and
where its eyes land in the aligned crop (the detector's own eye points mapped, and found again in the crop).
With --celeba, a check of CelebA's landmark means: MTCNN's five landmarks on real aligned crops, averaged.

    python benchmarks/alignment.py --celeba PATH/TO/celeba --photos 8 --repeats 5 --threads 1 --json out.json
"""

from __future__ import annotations

import argparse
import io
import json
import math
import statistics
import sys
import time
import zipfile
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

from faceattr.data.synth import face_with_eyes
from faceattr.predict.detect import CELEBA_LANDMARKS, CELEBA_LEFT_EYE, CELEBA_RIGHT_EYE, DETECTORS, detect_faces

PHOTO_W, PHOTO_H, PER_PHOTO = 640, 480, 4
SCALES, ANGLE = (0.6, 1.6), 25.0
CELEBA_ZIP = "img_align_celeba_fullres.zip"
CELEBA_EYES = np.array([CELEBA_LEFT_EYE, CELEBA_RIGHT_EYE])
FACE_CENTRE, FACE_RADII = (89.0, 125.0), (62.0, 82.0)  # the oval pasted from each crop (crop pixels)


def background(rng: np.random.Generator) -> np.ndarray:
    """A gradient with blurred blobs, bars and noise: clutter for false detections, nothing face-like on purpose."""
    yy, xx = np.mgrid[0:PHOTO_H, 0:PHOTO_W].astype(np.float32)
    base = rng.uniform(60, 200, 3)
    rgb = (
        base + rng.uniform(-50, 50, 3) * (xx / PHOTO_W)[..., None] + rng.uniform(-50, 50, 3) * (yy / PHOTO_H)[..., None]
    )
    canvas = np.clip(rgb, 0, 255).astype(np.uint8)
    for _ in range(25):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        x, y = int(rng.integers(0, PHOTO_W)), int(rng.integers(0, PHOTO_H))
        if rng.random() < 0.5:
            cv2.ellipse(
                canvas,
                (x, y),
                (int(rng.integers(5, 60)), int(rng.integers(5, 60))),
                float(rng.uniform(0, 180)),
                0,
                360,
                colour,
                -1,
            )
        else:
            cv2.rectangle(canvas, (x, y), (x + int(rng.integers(5, 120)), y + int(rng.integers(5, 30))), colour, -1)
    canvas = cv2.GaussianBlur(canvas, (0, 0), 2.0).astype(np.float32) + rng.normal(0, 4, canvas.shape)
    return np.clip(canvas, 0, 255).astype(np.uint8)


def paste_transform(scale: float, angle_deg: float, centre: tuple[float, float]) -> np.ndarray:
    """2×3 crop→photo map: rotate and scale about the face's centre, which lands on `centre`."""
    m = cv2.getRotationMatrix2D(FACE_CENTRE, angle_deg, scale)
    m[:, 2] += np.array(centre) - np.array(FACE_CENTRE)
    return m


def compose(faces: list[tuple[np.ndarray, np.ndarray]], rng: np.random.Generator) -> tuple[np.ndarray, list[dict]]:
    """A photo with each (crop, true eyes) pasted at a random scale, angle and free place; the truths in photo pixels."""
    photo = background(rng).astype(np.float32)
    truths: list[dict] = []
    yy, xx = np.mgrid[0:218, 0:178].astype(np.float32)
    oval = ((xx - FACE_CENTRE[0]) / FACE_RADII[0]) ** 2 + ((yy - FACE_CENTRE[1]) / FACE_RADII[1]) ** 2
    mask = np.clip((1.15 - oval) / 0.3, 0, 1)  # feathered edge
    for crop, eyes in faces:
        scale, angle = float(rng.uniform(*SCALES)), float(rng.uniform(-ANGLE, ANGLE))
        radius = FACE_RADII[1] * scale
        for _ in range(500):  # a place inside the photo not overlapping the faces already there
            centre = (
                float(rng.uniform(radius * 0.8, PHOTO_W - radius * 0.8)),
                float(rng.uniform(radius, PHOTO_H - radius)),
            )
            if all(math.dist(centre, t["centre"]) > 0.8 * (radius + t["radius"]) for t in truths):
                break
        else:
            continue
        m = paste_transform(scale, angle, centre)
        warped = cv2.warpAffine(crop, m, (PHOTO_W, PHOTO_H), flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        alpha = cv2.warpAffine(mask, m, (PHOTO_W, PHOTO_H))[..., None]
        photo = photo * (1 - alpha) + warped.astype(np.float32) * alpha
        eyes_photo = np.hstack([eyes, np.ones((2, 1))]) @ m.T
        truths.append({"centre": centre, "radius": radius, "width": 178 * scale, "eyes": eyes_photo})
    return np.clip(photo + 0.5, 0, 255).astype(np.uint8), truths


def synthetic_faces(count: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    out = []
    for k in range(count):
        data, eyes = face_with_eyes(seed, k)
        out.append((np.array(Image.open(io.BytesIO(data)).convert("RGB")), np.array(eyes)))
    return out


def celeba_faces(folder: Path, count: int, skip: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Real aligned crops, in name order, read from the zip in place; their eyes at CelebA's mean positions."""
    with zipfile.ZipFile(folder / CELEBA_ZIP) as zf:
        names = sorted(n for n in zf.namelist() if n.lower().endswith(".jpg"))[skip : skip + count]
        return [(np.array(Image.open(io.BytesIO(zf.read(n))).convert("RGB")), CELEBA_EYES.copy()) for n in names]


def score(faces: list, truths: list[dict]) -> tuple[int, int, list[float]]:
    """(found, false detections, eye errors in crop pixels) for one photo's detections against its truths."""
    matched: set[int] = set()
    false, errors = 0, []
    for face in faces:
        x, y, w, h = face.box
        centre = (x + w / 2, y + h / 2)
        dists = [math.dist(centre, t["centre"]) / t["width"] for t in truths]
        k = int(np.argmin(dists)) if dists else -1
        if k < 0 or dists[k] > 0.35 or k in matched:
            false += 1
            continue
        matched.add(k)
        mapped = np.hstack([truths[k]["eyes"], np.ones((2, 1))]) @ face.transform.T
        errors += np.linalg.norm(mapped - CELEBA_EYES, axis=1).tolist()
    return len(matched), false, errors


def run_set(name: str, photos: list[tuple[np.ndarray, list[dict]]], repeats: int) -> dict:
    out = {}
    for detector in DETECTORS:
        detect_faces(torch.from_numpy(photos[0][0]).permute(2, 0, 1).contiguous(), detector)  # load, warm up
        found = pasted = false = 0
        errors: list[float] = []
        times = []
        for photo, truths in photos:
            image = torch.from_numpy(photo).permute(2, 0, 1).contiguous()
            runs = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                faces = detect_faces(image, detector)
                runs.append(time.perf_counter() - t0)
            times.append(statistics.median(runs))
            f, fp, e = score(faces, truths)
            found, pasted, false, errors = found + f, pasted + len(truths), false + fp, errors + e
        err = np.array(errors) if errors else np.array([math.nan])
        out[detector] = {
            "found": found,
            "pasted": pasted,
            "false": false,
            "eye_error_px": {
                "median": round(float(np.median(err)), 2),
                "p90": round(float(np.percentile(err, 90)), 2),
                "max": round(float(err.max()), 2),
            },
            "ms_per_photo": round(1000 * statistics.mean(times), 1),
        }
        r = out[detector]
        print(
            f"{name:10s} {detector:6s} found {found}/{pasted}, false {false}, eye error median "
            f"{r['eye_error_px']['median']} / p90 {r['eye_error_px']['p90']} / max {r['eye_error_px']['max']} px, "
            f"{r['ms_per_photo']} ms per {PHOTO_W}×{PHOTO_H} photo",
            flush=True,
        )
    return out


def astronaut() -> dict:
    """The real photo: each detector's faces, and where the eyes land in the aligned crop."""
    from skimage import data

    image = torch.from_numpy(np.ascontiguousarray(data.astronaut())).permute(2, 0, 1).contiguous()
    out = {}
    for detector in DETECTORS:
        faces = detect_faces(image, detector)
        rows = []
        for face in faces:
            row = {
                "box": list(face.box),
                "probability": None if face.probability is None else round(face.probability, 4),
            }
            if face.eyes is not None:  # the detector's own eye points, mapped into the crop
                mapped = np.hstack([np.array(face.eyes), np.ones((2, 1))]) @ face.transform.T
                row["eyes_mapped_error_px"] = np.round(np.linalg.norm(mapped - CELEBA_EYES, axis=1), 2).tolist()
            again = detect_faces(face.crop, "mtcnn")  # found again in the crop by MTCNN: where they really sit
            if len(again) == 1:
                row["eyes_in_crop_error_px"] = np.round(
                    np.linalg.norm(again[0].landmarks[:2] - CELEBA_EYES, axis=1), 2
                ).tolist()
            rows.append(row)
        out[detector] = rows
        print(f"astronaut  {detector:6s} {len(rows)} face(s): {rows}", flush=True)
    return out


def landmark_means(folder: Path, count: int) -> dict:
    """MTCNN's five landmarks on real aligned crops, averaged: a check of CELEBA_LANDMARKS."""
    points = []
    for crop, _ in celeba_faces(folder, count):
        found = detect_faces(torch.from_numpy(crop).permute(2, 0, 1).contiguous(), "mtcnn")
        if len(found) == 1:
            points.append(found[0].landmarks)
    mean = np.mean(points, axis=0)
    diff = np.linalg.norm(mean - CELEBA_LANDMARKS, axis=1)
    print(
        f"celeba landmark check: {len(points)}/{count} crops with one face; MTCNN mean landmarks "
        f"{np.round(mean, 1).tolist()}; distance to CELEBA_LANDMARKS {np.round(diff, 2).tolist()} px",
        flush=True,
    )
    return {
        "crops": count,
        "with_one_face": len(points),
        "mtcnn_mean": np.round(mean, 2).tolist(),
        "distance_px": np.round(diff, 2).tolist(),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--photos", type=int, default=8, help="composed photos per face source (default 8)")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per photo and detector (default 3)")
    ap.add_argument("--threads", type=int, default=1, help="torch and OpenCV threads (default 1)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--celeba", type=Path, help=f"a folder holding {CELEBA_ZIP}: add real faces (read in place)")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    n = args.photos * PER_PHOTO
    sources = {"synthetic": synthetic_faces(n, args.seed)}
    if args.celeba:
        sources["celeba"] = celeba_faces(args.celeba, n, skip=1000)  # not the crops of the landmark check
    report: dict = {"args": {k: str(v) for k, v in vars(args).items()}, "threads": args.threads}
    for name, faces in sources.items():
        rng = np.random.default_rng([args.seed, len(name)])
        photos = [compose(faces[i : i + PER_PHOTO], rng) for i in range(0, n, PER_PHOTO)]
        report[name] = run_set(name, photos, args.repeats)
    report["astronaut"] = astronaut()
    if args.celeba:
        report["celeba_landmark_check"] = landmark_means(args.celeba, 300)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
