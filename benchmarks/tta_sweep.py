"""Test-time augmentation beyond flips, chosen on validation: does it carry over to the test split?

For each trained model, predicts the validation and test images of a partition file under each
combination of flips, zooms and shifts, and prints validation and test mean accuracy at threshold 0.5.
A combination is worth adding to the evaluate stage only if the one that wins on validation also gains on
test, for most models.

    python benchmarks/tta_sweep.py --data-dir PATH/TO/celeba seed42.pt seed1.pt seed2.pt
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from faceattr.data.decoding import decode_resized, normalize
from faceattr.data.labels import parse_attribute_file
from faceattr.data.partition import read_id_table
from faceattr.model.model_file import load_model
from faceattr.predict.image_sources import iter_images

Transform = Callable[[torch.Tensor], torch.Tensor]


def zoom(x: torch.Tensor, scale: float) -> torch.Tensor:
    """Zoom a normalised N×3×H×W batch about its centre: in (scale > 1, a centre crop resized up) or out
    (scale < 1, resized down and padded with the mean, which is 0 after normalisation)."""
    h, w = x.shape[-2:]
    ch, cw = round(h / scale), round(w / scale)
    if scale >= 1:
        y0, x0 = (h - ch) // 2, (w - cw) // 2
        return F.interpolate(x[..., y0 : y0 + ch, x0 : x0 + cw], size=(h, w), mode="bilinear", antialias=True)
    small = F.interpolate(x, size=(ch, cw), mode="bilinear", antialias=True)
    return F.pad(small, ((w - cw) // 2, w - cw - (w - cw) // 2, (h - ch) // 2, h - ch - (h - ch) // 2))


VIEWS: dict[str, Transform] = {
    "id": lambda x: x,
    "zoom1.06": lambda x: zoom(x, 1.06),
    "zoom1.12": lambda x: zoom(x, 1.12),
    "zoom0.94": lambda x: zoom(x, 0.94),
    "shift+4": lambda x: torch.roll(x, (4, 4), (-2, -1)),
    "shift-4": lambda x: torch.roll(x, (-4, -4), (-2, -1)),
}


def with_flips(*views: str) -> list[str]:
    """The views and their mirror images (the keys `view_logits` returns)."""
    return [*views, *(v + "+flip" for v in views)]


# combination name -> the view logits it averages
COMBINATIONS = {
    "none": ["id"],
    "flip": with_flips("id"),
    "flip+zoom1.06": with_flips("id", "zoom1.06"),
    "flip+zoom1.12": with_flips("id", "zoom1.12"),
    "flip+zoom0.94": with_flips("id", "zoom0.94"),
    "flip+shifts": with_flips("id", "shift+4", "shift-4"),
    "all": with_flips(*VIEWS),
}


@torch.inference_mode()
def view_logits(model: torch.nn.Module, images: torch.Tensor, mean, std, batch: int = 32) -> dict[str, np.ndarray]:
    """Logits of every view and of its mirror image (key suffixed `+flip`)."""
    out: dict[str, list[torch.Tensor]] = {}
    for start in range(0, len(images), batch):
        x = normalize(images[start : start + batch], mean, std)
        for name, view in VIEWS.items():
            v = view(x)
            out.setdefault(name, []).append(model(v))
            out.setdefault(name + "+flip", []).append(model(v.flip(-1)))
    return {k: torch.cat(v).numpy() for k, v in out.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", help="models/model.pt files of trained runs")
    parser.add_argument("--data-dir", required=True, help="the folder holding the images and label files")
    parser.add_argument("--images", default="img_align_celeba_halfres.zip")
    parser.add_argument("--labels", default="seed_mobilenetv2/list_attr.txt")
    parser.add_argument("--partition", default="seed_mobilenetv2/list_partition_3000.txt")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    root = Path(args.data_dir)
    table, _ = parse_attribute_file(root / args.labels)
    labels = dict(zip(table.ids, table.values))
    split_of = read_id_table(root / args.partition, "partition")
    loaded: dict[tuple[int, int], dict[int, tuple[torch.Tensor, np.ndarray]]] = {}
    print("| model | combination | validation accuracy | test accuracy |\n|---|---|---:|---:|")
    for path in args.models:
        model, spec = load_model(path)
        model.eval()
        if spec.image_size not in loaded:
            found: dict[int, tuple[list, list]] = {1: ([], []), 2: ([], [])}
            for item in iter_images([str(root / args.images)]):
                split = split_of.get(item.image_id)
                if split in found and item.image_id in labels:
                    found[split][0].append(decode_resized(item.data, spec.image_size, item.name))
                    found[split][1].append(labels[item.image_id])
            loaded[spec.image_size] = {s: (torch.stack(x), np.stack(y).astype(int)) for s, (x, y) in found.items()}
        cols = [table.names.index(a) for a in spec.attributes]
        splits = {
            s: (view_logits(model, x, spec.mean, spec.std), y[:, cols]) for s, (x, y) in loaded[spec.image_size].items()
        }
        for name, keys in COMBINATIONS.items():
            acc = [((np.mean([logits[k] for k in keys], axis=0) > 0) == y).mean() for logits, y in splits.values()]
            print(f"| {Path(path).name} | {name} | {acc[0]:.4f} | {acc[1]:.4f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
