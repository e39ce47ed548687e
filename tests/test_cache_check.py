"""`make repro` fails when dvc.lock records an output whose data DVC did not manage to cache."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers import run

from faceattr.pipeline.cache_check import missing_from_cache

pytestmark = pytest.mark.e2e  # the session `repo` (dvc repro)


def test_an_output_missing_from_the_cache_fails_the_check(repo, tmp_path):
    assert missing_from_cache(str(repo)) == []
    ok = run(["python", "-m", "faceattr.pipeline.cache_check"], repo)
    assert "every output is in DVC's cache" in ok.stdout
    # What a full disk during DVC's copy into its cache leaves: dvc.lock names the model, the cache lacks it.
    lock = (repo / "dvc.lock").read_text()
    outs = {o["path"]: o["md5"] for s in yaml.safe_load(lock)["stages"].values() for o in s.get("outs", [])}
    cached = cache_object(repo, outs["models/model.pt"])
    aside = tmp_path / "model.cache"
    shutil.move(cached, aside)
    try:
        assert missing_from_cache(str(repo)) == ["models/model.pt"]
        proc = run(["python", "-m", "faceattr.pipeline.cache_check"], repo, check=False)
        assert proc.returncode == 1
        assert "not in DVC's cache" in proc.stderr and "models/model.pt" in proc.stderr
    finally:
        shutil.move(aside, cached)
    assert missing_from_cache(str(repo)) == []


def cache_object(repo: Path, md5: str) -> Path:
    return repo / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]


def first_file_of(repo: Path, out: str) -> Path:
    """The cache object of the first file of the folder output `out` (from its .dir listing)."""
    lock = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    dir_md5 = next(o["md5"] for s in lock.values() for o in s.get("outs", []) if o["path"] == out)
    listing = json.loads(cache_object(repo, dir_md5.removesuffix(".dir") + ".dir").read_text())
    return cache_object(repo, listing[0]["md5"])


def check(repo: Path) -> subprocess.CompletedProcess:
    return run([sys.executable, "-m", "faceattr.pipeline.cache_check"], repo, check=False)


def test_one_file_of_a_folder_output_missing_or_damaged_in_the_cache_fails_the_check(repo, tmp_path):
    """A full disk while DVC copies a folder into its cache leaves some of its files uncached, or one cut short."""
    obj = first_file_of(repo, "data/processed/partitions")
    aside = tmp_path / "object"
    shutil.copy2(obj, aside)
    try:
        obj.unlink()
        assert missing_from_cache(str(repo)) == ["data/processed/partitions"]
        proc = check(repo)
        assert proc.returncode == 1 and "data/processed/partitions" in proc.stderr, proc.stderr

        obj.write_bytes(aside.read_bytes()[:-1])  # a copy cut short
        assert missing_from_cache(str(repo)) == ["data/processed/partitions"]
    finally:
        obj.unlink(missing_ok=True)
        shutil.copy2(aside, obj)
    assert missing_from_cache(str(repo)) == []
    assert check(repo).returncode == 0
