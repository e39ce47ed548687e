"""A partition's splits: clean labels + a partition list + the pixel cache of the decoded images (the data
layer: training imports its Split, not the other way round)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from faceattr.data.partition import read_id_table, read_split_labels
from faceattr.data.pixels import Images, PixelCache
from faceattr.errors import FaceattrError


@dataclass
class Split:
    """Images (rows of the pixel cache, or a uint8 N×3×H×W tensor) and their 0/1 labels (float N×A)."""

    images: Images | torch.Tensor
    labels: torch.Tensor


@dataclass
class PartitionData:
    attributes: list[str]
    ids: dict[str, list[str]]  # split name → image ids
    labels: dict[str, torch.Tensor]  # split name → float 0/1 N×A


def read_partition_labels(labels_csv: str | Path, partition_file: str | Path) -> PartitionData:
    """Join the clean labels with a partition file; every id of the partition must have labels."""
    attributes, ids, labels = read_split_labels(labels_csv, partition_file)
    return PartitionData(attributes, ids, {name: torch.from_numpy(rows) for name, rows in labels.items()})


def partition_ids(partitions_dir: str | Path) -> list[str]:
    """Every image id of every generated partition, sorted: the images the pixel cache must hold."""
    ids: set[str] = set()
    for path in sorted(Path(partitions_dir).glob("list_partition_*.txt")):
        ids.update(read_id_table(path, "partition"))
    return sorted(ids)


def load_split(data: PartitionData, split: str, cache: PixelCache, size: tuple[int, int]) -> Split:
    """A split's labels and its images in the pixel cache, which must be at `size` (the model's input)."""
    if tuple(cache.size) != tuple(size):
        raise FaceattrError(
            f"{cache.folder}: images are cached at {cache.size[0]}×{cache.size[1]} but "
            f"{size[0]}×{size[1]} is needed (re-run `dvc repro preprocess` with the same "
            f"train.image_size as the model)"
        )
    return Split(images=cache.images(data.ids[split]), labels=data.labels[split])
