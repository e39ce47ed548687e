"""A partition's splits: clean labels + a partition list + the pixel cache of the decoded images (the data
layer: training imports its Split, not the other way round)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from faceattr.errors import FaceattrError
from faceattr.partition import SPLIT_NAMES, read_id_table
from faceattr.pixels import Images, PixelCache


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


def partition_path(partitions_dir: str | Path, subset: int | str) -> Path:
    path = Path(partitions_dir) / f"list_partition_{subset}.txt"
    if not path.is_file():
        available = sorted(
            p.stem.removeprefix("list_partition_") for p in Path(partitions_dir).glob("list_partition_*.txt")
        )
        raise FaceattrError(
            f"subset: no partition {subset!r} (expected {path}); generated: {', '.join(available) or 'none'}"
        )
    return path


def read_partition_labels(labels_csv: str | Path, partition_file: str | Path) -> PartitionData:
    """Join the clean labels with a partition file; every id of the partition must have labels."""
    labels = pd.read_csv(labels_csv, dtype={"image_id": str}).set_index("image_id")
    partition = read_id_table(partition_file, "partition")
    missing = [i for i in partition if i not in labels.index]
    if missing:
        raise FaceattrError(f"{partition_file}: {len(missing)} image(s) have no clean labels, e.g. {missing[0]}")
    ids: dict[str, list[str]] = {name: [] for name in SPLIT_NAMES}
    for image_id, split in sorted(partition.items()):
        ids[SPLIT_NAMES[split]].append(image_id)
    tensors = {
        name: torch.tensor(labels.loc[v].to_numpy(), dtype=torch.float32).reshape(len(v), labels.shape[1])
        for name, v in ids.items()
    }
    return PartitionData(attributes=list(labels.columns), ids=ids, labels=tensors)


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
