"""params.yaml is written in the layout DVC keeps, so `dvc exp run -S key=value` changes only that line."""

import difflib
import shutil
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "override, changed",
    [("alpha=0.25", ["alpha: 0.25"]), ("train.lr=0.001", ["  lr: 0.001"]), ("subset=1000", ["subset: 1000"])],
)
def test_dvc_set_changes_only_the_line_it_sets(tmp_path, override, changed):
    from dvc.utils.hydra import apply_overrides  # what `dvc exp run -S` calls on params.yaml

    path = tmp_path / "params.yaml"
    shutil.copy(REPO / "params.yaml", path)
    before = path.read_text().splitlines()
    apply_overrides(str(path), [override])
    after = path.read_text().splitlines()
    diff = [
        line
        for line in difflib.unified_diff(before, after, lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    assert [line[1:] for line in diff if line.startswith("+")] == changed, "\n".join(diff)
    assert len([line for line in diff if line.startswith("-")]) == 1, "\n".join(diff)
    assert yaml.safe_load(path.read_text()).keys() == yaml.safe_load((REPO / "params.yaml").read_text()).keys()
