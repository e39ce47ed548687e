"""A partition's splits as tensors: clean labels + a partition list + the extracted images."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from faceattr.errors import FaceattrError
from faceattr.images import load_folder_images
from faceattr.partition import SPLIT_NAMES, read_id_table
from faceattr.training import Split


@dataclass
class PartitionData:
    attributes: list[str]
    ids: dict[str, list[str]]          # split name → image ids
    labels: dict[str, torch.Tensor]    # split name → float 0/1 N×A


def partition_path(partitions_dir: str | Path, subset: int | str) -> Path:
    path = Path(partitions_dir) / f"list_partition_{subset}.txt"
    if not path.is_file():
        available = sorted(p.stem.removeprefix("list_partition_") for p in Path(partitions_dir).glob("list_partition_*.txt"))
        raise FaceattrError(f"subset: no partition {subset!r} (expected {path}); generated: {', '.join(available) or 'none'}")
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
    tensors = {name: torch.tensor(labels.loc[v].to_numpy(), dtype=torch.float32).reshape(len(v), labels.shape[1])
               for name, v in ids.items()}
    return PartitionData(attributes=list(labels.columns), ids=ids, labels=tensors)


def load_split(data: PartitionData, split: str, images_dir: str | Path, size: tuple[int, int]) -> Split:
    return Split(images=load_folder_images(images_dir, data.ids[split], size), labels=data.labels[split])
