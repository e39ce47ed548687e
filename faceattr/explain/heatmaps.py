"""Pictures of explanations: a heat map blended over its crop, one image's figure, a stage's grid.

The blend itself is a colour lookup in numpy (a web page asks for one per click, in milliseconds);
matplotlib only lays out the titled figures that `faceattr explain` and the `explain` stage write.
"""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

HEAT_OPACITY = 0.5


@lru_cache(maxsize=1)
def _colour_table() -> np.ndarray:
    """matplotlib's `jet` as a 256×3 uint8 lookup table (cold blue → hot red)."""
    from matplotlib import colormaps

    return (colormaps["jet"](np.linspace(0, 1, 256))[:, :3] * 255).round().astype(np.uint8)


def to_hwc(image: torch.Tensor) -> np.ndarray:
    """A uint8 3×H×W tensor as an H×W×3 array."""
    return np.ascontiguousarray(image.permute(1, 2, 0).cpu().numpy())


def resize_heat(heat: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A heat map bilinearly resized to (height, width)."""
    if heat.shape == tuple(size):
        return heat
    t = torch.from_numpy(np.ascontiguousarray(heat, dtype=np.float32))[None, None]
    return F.interpolate(t, size=size, mode="bilinear", align_corners=False)[0, 0].numpy()


def overlay(image: torch.Tensor, heat: np.ndarray, opacity: float = HEAT_OPACITY) -> np.ndarray:
    """The crop (uint8 3×H×W) with the heat map (any size, values in [0, 1]) blended over it: H×W×3 uint8."""
    rgb = to_hwc(image).astype(np.float32)
    heat = np.clip(resize_heat(heat, rgb.shape[:2]), 0, 1)
    colour = _colour_table()[(heat * 255).round().astype(np.uint8)].astype(np.float32)
    blend = opacity * (0.35 + 0.65 * heat[..., None])  # the colour's weight: cold regions stay readable
    return (rgb * (1 - blend) + colour * blend).round().clip(0, 255).astype(np.uint8)


def png_bytes(rgb: np.ndarray) -> bytes:
    """An H×W×3 uint8 array as PNG bytes."""
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    return buffer.getvalue()


def _save_figure(fig, path: str | Path) -> None:
    from faceattr.evaluate.figures import save_figure

    save_figure(fig, path)


def _figure(rows: int, cols: int, cell: float = 1.6):
    import matplotlib.pyplot as plt

    import faceattr.evaluate.figures  # noqa: F401  (selects matplotlib's Agg backend first)

    fig, axes = plt.subplots(rows, cols, figsize=(cell * cols, cell * 1.25 * rows + 0.5), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    return fig, axes


def explanation_figure(crop: torch.Tensor, heat: np.ndarray, title: str, path: str | Path) -> None:
    """One image and one attribute: the crop beside the heat map over it, the verdict in the title."""
    fig, axes = _figure(1, 2, cell=2.2)
    axes[0, 0].imshow(to_hwc(crop))
    axes[0, 0].set_title("input", fontsize=8)
    axes[0, 1].imshow(overlay(crop, heat))
    axes[0, 1].set_title("Grad-CAM", fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    _save_figure(fig, path)


def feature_map_figure(maps: np.ndarray, title: str, path: str | Path, columns: int = 8) -> None:
    """A grid of feature maps (C×h×w in [0, 1]), the most active channel first."""
    rows = max(1, -(-len(maps) // columns))
    fig, axes = _figure(rows, columns, cell=1.1)
    for ax, fmap in zip(axes.flat, maps):
        ax.imshow(fmap, cmap="viridis", vmin=0, vmax=1)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    _save_figure(fig, path)


def example_grid(
    rows: Sequence[tuple[str, Sequence[tuple[torch.Tensor, np.ndarray, str]]]],
    title: str,
    path: str | Path,
    columns: int,
) -> None:
    """Rows of examples (a row label, then (crop, heat, caption) per image), each image with its heat map."""
    fig, axes = _figure(len(rows), columns)
    for r, (label, examples) in enumerate(rows):
        axes[r, 0].text(
            -0.08, 0.5, label, transform=axes[r, 0].transAxes, rotation=90, ha="right", va="center", fontsize=8
        )
        if not examples:
            axes[r, 0].text(0.5, 0.5, "none", transform=axes[r, 0].transAxes, ha="center", va="center", fontsize=8)
        for c, (crop, heat, caption) in enumerate(examples[:columns]):
            axes[r, c].imshow(overlay(crop, heat))
            axes[r, c].set_title(caption, fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    _save_figure(fig, path)
