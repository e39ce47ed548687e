import pytest

from faceattr.data.partition import make_partitions, read_partition_files, split_counts
from faceattr.errors import FaceattrError

IDS = [f"{i:06d}.jpg" for i in range(1, 201)]
IDENTITY = {i: k // 4 for k, i in enumerate(IDS)}  # 50 people with 4 images each


def as_set(partition):
    return {i for i, _ in partition}


@pytest.mark.parametrize("strategy", ["first", "random", "identity"])
def test_subsets_are_nested_sized_and_deterministic(strategy):
    a = make_partitions(IDS, [50, 100, 200], strategy, seed=3, identities=IDENTITY)
    b = make_partitions(IDS, [50, 100, 200], strategy, seed=3, identities=IDENTITY)
    assert a == b
    assert [len(a[k]) for k in ("50", "100", "200")] == [50, 100, 200]
    assert as_set(a["50"]) <= as_set(a["100"]) <= as_set(a["200"])
    counts = split_counts(a["200"])
    assert abs(counts["train"] - 160) <= 4 and abs(counts["val"] - 20) <= 4


def test_first_matches_the_published_layout():
    parts = make_partitions(IDS, [100], "first")
    assert parts["100"][:2] == [("000001.jpg", 0), ("000002.jpg", 0)]
    assert [s for _, s in parts["100"]] == [0] * 80 + [1] * 10 + [2] * 10


def test_identity_strategy_keeps_people_in_one_split():
    parts = make_partitions(IDS, [200, 101], "identity", seed=1, identities=IDENTITY)
    for partition in parts.values():
        split_of = {}
        for image, split in partition:
            assert split_of.setdefault(IDENTITY[image], split) == split


def test_random_changes_with_seed():
    assert make_partitions(IDS, [50], "random", seed=1) != make_partitions(IDS, [50], "random", seed=2)


def test_official_uses_the_given_split():
    official = {i: k % 3 for k, i in enumerate(IDS)}
    parts = make_partitions(IDS, [30], "official", official=official)
    assert all(official[i] == s for i, s in parts["30"])


def test_all_gives_every_image():
    assert len(make_partitions(IDS, ["all"], "random")["all"]) == 200


def test_too_large_a_subset_is_a_clear_error():
    with pytest.raises(FaceattrError, match="subset of 500 images.*only 200"):
        make_partitions(IDS, [100, 500], "first")


def test_identity_without_file_is_a_clear_error():
    with pytest.raises(FaceattrError, match="data.identities"):
        make_partitions(IDS, [100], "identity")


def test_given_partition_files_drop_unclean_ids(tmp_path):
    (tmp_path / "list_partition_4.txt").write_text("000001.jpg 0\n000002.jpg 0\n000003.jpg 1\n999999.jpg 2\n")
    parts, dropped = read_partition_files(tmp_path, "list_partition_{size}.txt", [4], IDS)
    assert parts["4"] == [("000001.jpg", 0), ("000002.jpg", 0), ("000003.jpg", 1)] and dropped == {"4": 1}


def test_given_partition_file_bad_line_is_named(tmp_path):
    (tmp_path / "list_partition_4.txt").write_text("000001.jpg 0\n000002.jpg\n")
    with pytest.raises(FaceattrError, match="list_partition_4.txt, line 2"):
        read_partition_files(tmp_path, "list_partition_{size}.txt", [4], IDS)


def test_kaggle_csv_partition_file_reads_like_the_official_one(tmp_path):
    from faceattr.data.partition import read_id_table

    official = tmp_path / "list_eval_partition.txt"
    official.write_text("000001.jpg 0\n000002.jpg 1\n000003.jpg 2\n")
    kaggle = tmp_path / "list_eval_partition.csv"
    kaggle.write_text("image_id,partition\r\n000001.jpg,0\r\n000002.jpg,1\r\n000003.jpg,2\r\n")
    assert read_id_table(kaggle, "evaluation partition") == read_id_table(official, "evaluation partition")
    kaggle.write_text("image_id,partition\n000001.jpg,0\n000002.jpg,x\n")
    with pytest.raises(FaceattrError, match=r"list_eval_partition.csv, line 3: expected"):
        read_id_table(kaggle, "evaluation partition")
