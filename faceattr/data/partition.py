"""Train/val/test partitions of nested subsets (1000 ⊂ 2000 ⊂ 3000 ⊂ …) in the published project's format.

Every strategy orders the clean images once and takes prefixes, so a smaller subset is always
contained in a larger one. Split assignment is computed on the full ordering, so an image keeps its
split in every subset (except for `first`, which reproduces the published project's contiguous blocks).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from faceattr.config.choices import STRATEGIES  # noqa: F401  (re-exported)
from faceattr.errors import FaceattrError

SPLIT_NAMES = ("train", "val", "test")

Partition = list[tuple[str, int]]


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


def read_split_labels(
    labels_csv: str | Path, partition_file: str | Path
) -> tuple[list[str], dict[str, list[str]], dict[str, np.ndarray]]:
    """The attribute names, each split's image ids and their 0/1 labels (float32 N×A), from the clean labels
    and a partition file; every id of the partition must have labels. (dataset.read_partition_labels gives the
    same as tensors; this one spares the plots stage importing torch.)"""
    labels = pd.read_csv(labels_csv, dtype={"image_id": str}).set_index("image_id")
    partition = read_id_table(partition_file, "partition")
    missing = [i for i in partition if i not in labels.index]
    if missing:
        raise FaceattrError(f"{partition_file}: {len(missing)} image(s) have no clean labels, e.g. {missing[0]}")
    ids: dict[str, list[str]] = {name: [] for name in SPLIT_NAMES}
    for image_id, split in sorted(partition.items()):
        ids[SPLIT_NAMES[split]].append(image_id)
    rows = {
        name: labels.loc[v].to_numpy().astype(np.float32).reshape(len(v), labels.shape[1]) for name, v in ids.items()
    }
    return list(labels.columns), ids, rows


def read_id_table(path: str | Path, what: str) -> dict[str, int]:
    """Read a `NNNNNN.jpg <int>` file (eval partition, identities, partition lists), naming bad lines.

    Kaggle's CSV variant (`image_id,partition` header, comma-separated) is read too.
    """
    path = Path(path)
    if not path.is_file():
        raise FaceattrError(f"{path}: {what} file not found")
    table: dict[str, int] = {}
    first = True
    for line_no, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
        fields = [f.strip() for f in line.split(",")] if "," in line else line.split()
        if not fields or fields == [""]:
            continue
        is_header = first and "," in line and len(fields) == 2 and not fields[1].lstrip("-").isdigit()
        first = False
        if is_header:
            continue
        if len(fields) != 2 or not fields[1].lstrip("-").isdigit():
            raise FaceattrError(f"{path}, line {line_no}: expected '<image> <integer>', got {line.strip()!r}")
        if fields[0] in table:
            raise FaceattrError(f"{path}, line {line_no}: duplicate image id {fields[0]!r}")
        table[fields[0]] = int(fields[1])
    return table


def _split_counts(n: int, fractions: Sequence[float]) -> tuple[int, int, int]:
    n_train = int(round(n * fractions[0]))
    n_val = int(round(n * fractions[1]))
    return n_train, n_val, n - n_train - n_val


def assign_groups(group_sizes: Sequence[int], fractions: Sequence[float]) -> list[int]:
    """Give each group (identity, or single image) the split furthest below its share so far.

    Depends only on earlier groups, so every prefix is split in close to the requested fractions.
    """
    counts = [0, 0, 0]
    total = 0
    splits = []
    for size in group_sizes:
        total += size
        k = max(range(3), key=lambda j: fractions[j] * total - counts[j])
        counts[k] += size
        splits.append(k)
    return splits


def _ordering(
    ids: Sequence[str],
    strategy: str,
    seed: int,
    fractions: Sequence[float],
    identities: Mapping[str, int] | None,
    official: Mapping[str, int] | None,
) -> list[tuple[str, int]]:
    """All clean ids in subset order, each with the split it gets (-1: decided per subset). `strategy` is
    first, random, official or identity (the config checks it)."""
    ids = sorted(ids)
    if strategy == "first":
        return [(i, -1) for i in ids]
    if strategy == "random":
        order = [ids[k] for k in np.random.default_rng(seed).permutation(len(ids))]
        return list(zip(order, assign_groups([1] * len(order), fractions)))
    if strategy == "official":
        if official is None:
            raise FaceattrError("partition.strategy 'official' needs data.eval_partition (list_eval_partition.txt)")
        missing = [i for i in ids if i not in official]
        if missing:
            raise FaceattrError(f"data.eval_partition has no split for {len(missing)} image(s), e.g. {missing[0]}")
        bad = sorted({v for v in official.values() if v not in (0, 1, 2)})
        if bad:
            raise FaceattrError(f"data.eval_partition: split values must be 0, 1 or 2, found {bad}")
        return [(i, official[i]) for i in ids]
    if identities is None:  # identity
        raise FaceattrError("partition.strategy 'identity' needs data.identities (identity_CelebA.txt)")
    groups: dict[int, list[str]] = defaultdict(list)
    for i in ids:
        if i not in identities:
            raise FaceattrError(f"data.identities has no identity for image {i}")
        groups[identities[i]].append(i)
    people = sorted(groups)
    people = [people[k] for k in np.random.default_rng(seed).permutation(len(people))]
    splits = assign_groups([len(groups[p]) for p in people], fractions)
    return [(i, s) for p, s in zip(people, splits) for i in groups[p]]


def make_partitions(
    ids: Sequence[str],
    sizes: Sequence[int | str],
    strategy: str = "first",
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    identities: Mapping[str, int] | None = None,
    official: Mapping[str, int] | None = None,
) -> dict[str, Partition]:
    """Partitions keyed by size name ('1000', …, 'all'); each is a sorted list of (image id, split).

    Sizes, strategy (not `file`: read_partition_files reads given lists) and fractions are as the config
    allows them (faceattr.config.schema.Partition)."""
    ordered = _ordering(ids, strategy, seed, fractions, identities, official)
    result: dict[str, Partition] = {}
    for size in sizes:
        n = len(ordered) if size == "all" else size
        if n > len(ordered):
            raise FaceattrError(
                f"partition.sizes: a subset of {n} images was asked for, but only {len(ordered)} clean "
                f"labelled images are available"
            )
        chosen = ordered[:n]
        if strategy == "first":
            n_train, n_val, _ = _split_counts(n, fractions)
            chosen = [(i, 0 if k < n_train else 1 if k < n_train + n_val else 2) for k, (i, _) in enumerate(chosen)]
        result[str(size)] = sorted(chosen)
    return result


def read_partition_files(
    data_dir: str | Path, pattern: str, sizes: Sequence[int | str], clean_ids: Sequence[str]
) -> tuple[dict[str, Partition], dict]:
    """Read given partition lists (`pattern` with `{size}`, under data_dir), keeping the ids that survived cleaning."""
    clean = set(clean_ids)
    result: dict[str, Partition] = {}
    dropped: dict[str, int] = {}
    for size in sizes:
        path = Path(data_dir) / str(pattern).format(size=size)
        table = read_id_table(path, "partition")
        bad = sorted({v for v in table.values() if v not in (0, 1, 2)})
        if bad:
            raise FaceattrError(f"{path}: split values must be 0, 1 or 2, found {bad}")
        result[str(size)] = sorted((i, s) for i, s in table.items() if i in clean)
        dropped[str(size)] = len(table) - len(result[str(size)])
    return result, dropped


def split_counts(partition: Partition) -> dict[str, int]:
    counts = dict.fromkeys(SPLIT_NAMES, 0)
    for _, s in partition:
        counts[SPLIT_NAMES[s]] += 1
    return counts


def format_partition(partition: Partition) -> str:
    return "".join(f"{i} {s}\n" for i, s in partition)
