"""Readable experiment names (make exp) and the narrow experiments table (make show)."""

import pytest

from faceattr.errors import FaceattrError
from faceattr.pipeline import experiment, grid, show

PARAMS = {"alpha": 1.0, "subset": 3000, "seed": 42}


@pytest.mark.parametrize(
    "settings, name",
    [
        (["alpha=0.25"], "a0p25-s3000"),
        (["subset=1000"], "a1p0-s1000"),
        (["alpha=0.5", "train.lr=0.001", "seed=3"], "a0p5-s3000-lr0p001-seed3"),
        (["train.image_size=[136,112]", "model.pretrained=imagenet"], "a1p0-s3000-imagesize136x112-pretrainedimagenet"),
        (["partition.sizes=['all']"], "a1p0-s3000-sizesall"),
    ],
)
def test_names_say_what_the_run_sets(settings, name):
    assert experiment.experiment_name(settings, PARAMS) == name


def test_a_taken_name_gets_a_number():
    assert experiment.unique("a0p25-s3000", set()) == "a0p25-s3000"
    assert experiment.unique("a0p25-s3000", {"a0p25-s3000", "a0p25-s3000-2"}) == "a0p25-s3000-3"


def test_the_command_passes_settings_and_options_through():
    cmd = experiment.command(["alpha=0.25", "--temp"], PARAMS, {"a0p25-s3000"})
    assert cmd[1:] == ["-m", "dvc", "exp", "run", "-n", "a0p25-s3000-2", "-S", "alpha=0.25", "--temp"]
    named = experiment.command(["-n", "mine", "alpha=0.25"], PARAMS, set())
    assert named[1:] == ["-m", "dvc", "exp", "run", "-S", "alpha=0.25", "-n", "mine"]


def test_a_setting_without_a_value_is_refused():
    with pytest.raises(FaceattrError, match="key=value"):
        experiment.experiment_name(["alpha"], PARAMS)


def test_the_grid_names_its_points_the_same_way():
    assert grid.point_name("x1", 0.25, 1000) == "grid-x1-a0p25-s1000"


def test_show_keeps_the_headline_columns_only():
    cmd = show.command(["--all-commits"])
    keep = cmd[cmd.index("--keep") + 1]
    import re

    for column in ("alpha", "subset", "seed", "train.lr", "mean_accuracy", "mean_balanced_accuracy", "Experiment"):
        assert re.fullmatch(keep, column), column
    for column in ("train.batch_size", "test.per_attribute", "best_val_loss", "model.arch"):
        assert not re.fullmatch(keep, column), column
    assert cmd[-1] == "--all-commits"
