"""`make repro` fails when dvc.lock records an output whose data DVC did not manage to cache."""

from __future__ import annotations

import shutil

import yaml

from faceattr.cache_check import missing_from_cache
from pipeline_helpers import run


def test_an_output_missing_from_the_cache_fails_the_check(repo, tmp_path):
    assert missing_from_cache(str(repo)) == []
    ok = run(["python", "-m", "faceattr.cache_check"], repo)
    assert "every output is in DVC's cache" in ok.stdout
    # What a full disk during DVC's copy into its cache leaves: dvc.lock names the model, the cache lacks it.
    lock = (repo / "dvc.lock").read_text()
    outs = {o["path"]: o["md5"] for s in yaml.safe_load(lock)["stages"].values() for o in s.get("outs", [])}
    md5 = outs["models/model.pt"]
    cached = repo / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]
    aside = tmp_path / "model.cache"
    shutil.move(cached, aside)
    try:
        assert missing_from_cache(str(repo)) == ["models/model.pt"]
        proc = run(["python", "-m", "faceattr.cache_check"], repo, check=False)
        assert proc.returncode == 1
        assert "not in DVC's cache" in proc.stderr and "models/model.pt" in proc.stderr
    finally:
        shutil.move(aside, cached)
    assert missing_from_cache(str(repo)) == []
