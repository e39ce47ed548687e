"""DVC stage `partition`: nested train/val/test subsets → data/processed/partitions/list_partition_{N}.txt."""

import pandas as pd

from faceattr.atomic import atomic_dir, write_json
from faceattr.config.paths import LABELS, PARTITION_REPORT
from faceattr.config.paths import PARTITIONS_DIR as OUT_DIR
from faceattr.config.schema import load_config
from faceattr.data.partition import format_partition, make_partitions, read_id_table, read_partition_files, split_counts
from faceattr.pipeline.stage import run_stage


def main() -> None:
    cfg = load_config()
    ids = pd.read_csv(LABELS, usecols=["image_id"], dtype=str)["image_id"].tolist()
    part = cfg.partition
    strategy, sizes = part.strategy, part.sizes
    dropped = {}
    if strategy == "file":
        partitions, dropped = read_partition_files(cfg.data.dir, part.files, sizes, ids)
    else:
        identities = cfg.data.file("identities") if strategy == "identity" else None
        official = cfg.data.file("eval_partition") if strategy == "official" else None
        partitions = make_partitions(
            ids,
            sizes,
            strategy=strategy,
            fractions=part.fractions,
            seed=part.seed,
            identities=read_id_table(identities, "identity") if identities else None,
            official=read_id_table(official, "evaluation partition") if official else None,
        )
    with atomic_dir(OUT_DIR) as staging:
        for name, partition in partitions.items():
            (staging / f"list_partition_{name}.txt").write_text(format_partition(partition))
    report = {
        "strategy": strategy,
        "subsets": {n: split_counts(p) for n, p in partitions.items()},
        "dropped_unclean_ids": dropped,
    }
    write_json(PARTITION_REPORT, report)
    for name, counts in report["subsets"].items():
        print(f"partition {name}: {counts['train']} train / {counts['val']} val / {counts['test']} test")


if __name__ == "__main__":
    run_stage(main)
