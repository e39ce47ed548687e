"""Hostile inputs around the pipeline: a YAML bomb in a recipe or params.yaml, a tracking URI naming no store,
an empty promote ref, broken label files, 5,000-character paths in error messages, params.yaml left behind by a
refused `dvc exp run -S`, and stages started by an interpreter without the project's dependencies."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import REPO, check_params_on

from faceattr.cli.entry import main
from faceattr.config import params_file
from faceattr.data.labels import clean_labels, parse_attribute_file
from faceattr.errors import FaceattrError, shorten
from faceattr.pipeline import recipe
from faceattr.pipeline.stage import RESTORE_PARAMS_COMMAND, run_stage
from faceattr.track import registry
from faceattr.track.mlflow_runs import store_exists


def alias_bomb(levels: int, top: str = "alpha") -> str:
    """Nested aliases: 10**(levels + 1) values once expanded, in a few hundred bytes."""
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{k}: &a{k} [{', '.join([f'*a{k - 1}'] * 10)}]" for k in range(1, levels + 1)]
    return "\n".join(lines) + f"\n{top}: *a{levels}\n"


# --- 1. YAML bombs -------------------------------------------------------------------------------------------------


def test_a_recipe_is_read_with_params_yamls_bounded_reader(tmp_path, capsys):
    """10**7 values: the unbounded reader turned them into a -S string for seconds (and 543 bytes of
    nine levels into 711 MB and counting); the bounded one refuses before anything walks them."""
    path = tmp_path / "bomb.yaml"
    path.write_text("description: x\n" + alias_bomb(6).replace("alpha: ", "overrides:\n  alpha: "))
    started = time.monotonic()
    with pytest.raises(FaceattrError, match="YAML bomb") as info:
        recipe.load_recipe(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)
    assert main(["recipe", str(path), "--print"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"faceattr: error: {path}:") and "YAML bomb" in err[0]
    assert time.monotonic() - started < 5  # a guard against a regression that walks the values, not a benchmark


def test_recipe_reads_through_safe_load_bounded(tmp_path, monkeypatch):
    seen = []
    real = params_file.safe_load_bounded
    monkeypatch.setattr(recipe, "safe_load_bounded", lambda text, source: seen.append(source) or real(text, source))
    (tmp_path / "r.yaml").write_text("overrides:\n  alpha: 0.5\n")
    assert recipe.load_recipe(tmp_path / "r.yaml") == {"alpha": 0.5}
    assert seen == [str(tmp_path / "r.yaml")]


def test_a_malformed_recipe_is_one_line(tmp_path):
    (tmp_path / "bad.yaml").write_text("overrides:\n  alpha: [1, 2\n")
    with pytest.raises(FaceattrError, match="bad.yaml: invalid YAML") as info:
        recipe.load_recipe(tmp_path / "bad.yaml")
    assert "\n" not in str(info.value)


def test_params_file_check_refuses_a_bomb_in_one_line_and_is_silent_on_the_real_file(tmp_path, capsys):
    (tmp_path / "params.yaml").write_text(alias_bomb(9))
    assert params_file.main([str(tmp_path / "params.yaml")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "YAML bomb" in err[0] and str(tmp_path / "params.yaml") in err[0]
    assert params_file.main([str(REPO / "params.yaml")]) == 0
    assert capsys.readouterr() == ("", "")


def test_make_checks_params_yaml_before_dvc_reads_it():
    """DVC expands params.yaml's aliases itself before check_params runs: make's targets read it bounded first."""
    lines = (REPO / "Makefile").read_text().splitlines()
    for target in ("repro:", "verify:", "exp:"):
        body = lines[next(i for i, line in enumerate(lines) if line.startswith(target)) + 1 :]
        assert body[0].strip() == "$(PY) -m faceattr.config.params_file params.yaml", target


# --- 2. the MLflow store ----------------------------------------------------------------------------------------------


def test_promote_never_creates_a_store(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    missing = tmp_path / "elsewhere" / "mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{missing}")
    assert not store_exists()
    assert main(["promote", "some-exp"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"faceattr: error: no MLflow store at sqlite:///{missing} (the pipeline writes mlflow.db in the project's "
        "folder: run this there, or set MLFLOW_TRACKING_URI to the store or server)"
    ]
    assert not missing.exists() and not missing.parent.exists()
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    assert main(["promote", "some-exp"]) == 2  # the default ./mlflow.db, absent
    assert not (tmp_path / "mlflow.db").exists()
    capsys.readouterr()


def test_store_exists_checks_local_stores_and_leaves_servers_to_mlflow(tmp_path, monkeypatch):
    (tmp_path / "m.db").write_bytes(b"")
    (tmp_path / "mlruns").mkdir()
    for uri, expected in [
        (f"sqlite:///{tmp_path / 'm.db'}", True),
        (f"sqlite:///{tmp_path / 'none.db'}", False),
        (f"file://{tmp_path / 'mlruns'}", True),
        (str(tmp_path / "mlruns"), True),
        (str(tmp_path / "nothing"), False),
        ("http://127.0.0.1:5000", True),
    ]:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
        assert store_exists() is expected, uri


@pytest.mark.parametrize("ref", ["", "  ", "''"])
def test_promote_refuses_an_empty_ref_before_opening_the_store(tmp_path, monkeypatch, capsys, ref):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    (tmp_path / "mlflow.db").write_bytes(b"")  # a store exists: the ref alone is refused
    with pytest.raises(FaceattrError, match="name a run id or a DVC experiment name"):
        registry.promote(ref)
    assert main(["promote", ref]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "name a run id or a DVC experiment name" in err[0]
    assert (tmp_path / "mlflow.db").read_bytes() == b""  # never opened


# --- 3. label files -------------------------------------------------------------------------------------------------

NAMES = ["Male", "Smiling", "Young"]


def label_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "attrs.txt"
    path.write_text(text)
    return path


def rows(n: int) -> str:
    return "".join(f"{i:06d}.jpg 1 -1 1\n" for i in range(1, n + 1))


def test_malformed_rows_are_counted_with_the_first_line(tmp_path, capsys):
    path = label_file(
        tmp_path, f"Filename {' '.join(NAMES)}\n{rows(3)}000004.jpg 1 -1\n{rows(5)[-18:]}000009.jpg 1 x 1\n"
    )
    table, report = parse_attribute_file(path)
    assert table.ids == ["000001.jpg", "000002.jpg", "000003.jpg", "000005.jpg"] and report.rows_read == 6
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"warning: {path}, line 5: 3 fields, expected 4; row dropped",
        f"warning: {path}, line 7: value 'x' is not one of -1, 0, 1; row dropped",
        f"warning: {path}: 2 of 6 rows dropped as malformed",
    ]
    parse_attribute_file(path, warn=False)
    assert capsys.readouterr().err == ""


def test_the_clean_labels_stage_warns_the_same_way(tmp_path, capsys):
    path = label_file(tmp_path, f"Filename {' '.join(NAMES)}\n{rows(3)}000004.jpg 1 -1\n")
    frame, report = clean_labels(path, NAMES, [f"{i:06d}.jpg" for i in range(1, 5)])
    assert len(frame) == 3 and report["rows_malformed"] == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"warning: {path}, line 5: 3 fields, expected 4; row dropped",
        f"warning: {path}: 1 of 4 rows dropped as malformed",
    ]


def test_more_than_ten_bad_rows_list_ten_and_count_all(tmp_path, capsys):
    bad = "".join(f"{i:06d}.jpg 1\n" for i in range(100, 112))
    parse_attribute_file(label_file(tmp_path, f"Filename {' '.join(NAMES)}\n{rows(2)}{bad}"))
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 11 and err[0].endswith(", line 4: 2 fields, expected 4; row dropped")
    assert err[-1].endswith(": 12 of 14 rows dropped as malformed (the first 10 listed above)")


@pytest.mark.parametrize(
    "text, shown",
    [
        (f"²\n{' '.join(NAMES)}\n{rows(2)}", "line 1: the count line '²' is not a row count"),
        ("9" * 5000 + f"\n{' '.join(NAMES)}\n{rows(2)}", "line 1: the count line '999999999999… (5,000 characters)'"),
        (f"2\n{' '.join(NAMES)}\n", "line 2: the header is followed by no rows"),
        (f"\n\nFilename {' '.join(NAMES)}\n\n", "line 3: the header is followed by no rows"),
        (
            f"Filename {' '.join(NAMES)}\n000001.jpg 1 1\n",
            "none of its 1 rows is usable (line 2: 3 fields, expected 4)",
        ),
    ],
    ids=["superscript-two", "5000-digits", "count-and-header-only", "header-only", "no-usable-row"],
)
def test_a_broken_label_file_is_one_line_naming_file_and_line(tmp_path, text, shown):
    path = label_file(tmp_path, text)
    with pytest.raises(FaceattrError) as info:
        parse_attribute_file(path, warn=False)
    message = str(info.value)
    assert message.startswith(f"{path}") and shown in message and "\n" not in message and len(message) < 300


# --- 4. long inputs in error messages ---------------------------------------------------------------------------------


def long_path(tmp_path: Path, name: str = "recipe.yaml") -> str:
    """A path of 5,000 characters or more (past Linux's PATH_MAX: reading it fails with ENAMETOOLONG)."""
    return f"{tmp_path}/{('d' * 99 + '/') * 50}{name}"


def test_the_cli_shortens_a_5000_character_path_in_its_error(tmp_path, capsys):
    path = long_path(tmp_path)
    assert len(path) > 5000
    assert main(["recipe", path, "--print"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and len(err[0]) < 500, len(err[0])
    assert err[0].startswith(f"faceattr: error: {path[:60]}") and "…" in err[0] and "recipe.yaml: " in err[0]


def test_a_stage_shortens_a_5000_character_path_in_its_error(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # sweep_stale looks at the pipeline's output folders: none here
    path = "/data/" + "x" * 5000 + "/list_attr_celeba.txt"

    def stage():
        raise FaceattrError(f"{path}: attribute file not found")

    with pytest.raises(SystemExit) as info:
        run_stage(stage)
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and len(err[0]) < 500 and err[0].startswith("error: /data/xxxx")
    assert err[0].endswith("xxx/list_attr_celeba.txt: attribute file not found") and "…" in err[0]


def test_normal_messages_are_not_shortened(tmp_path):
    from faceattr.data.attributes import CELEBA_ATTRIBUTES

    every = f"labels.attributes: unknown attribute(s) 'Smile'; {tmp_path}/celeba/list_attr_celeba.txt has: " + " ".join(
        CELEBA_ATTRIBUTES
    )
    for message in (every, f"{tmp_path}/{'a' * 150}.txt: not found", "params.yaml: seed = -1 is not allowed"):
        assert shorten(message) == message
    many = " ".join(["word" * 10] * 100)
    assert len(shorten(many)) <= 800 and " … " in shorten(many)


# --- 5. params.yaml after a refused `dvc exp run -S` -------------------------------------------------------------------


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


def stale_params(repo: Path) -> None:
    """A committed params.yaml, then a same-length edit that git's stat cache records as the committed file:
    what a refused `dvc exp run -S alpha=abc` left (DVC's git library wrote the index after the file)."""
    from dulwich.index import index_entry_from_stat
    from dulwich.repo import Repo

    repo.mkdir()
    git(repo, "init", "-q")
    git(repo, "config", "user.email", "t@example.com")
    git(repo, "config", "user.name", "t")
    (repo / "params.yaml").write_text("alpha: 0.5\nseed: 42\n")
    git(repo, "add", "params.yaml")
    git(repo, "commit", "-qm", "params")
    (repo / "params.yaml").write_text("alpha: abc\nseed: 42\n")
    past = time.time() - 10  # an mtime before the index file's: git trusts the cached stat
    os.utime(repo / "params.yaml", (past, past))
    index = Repo(str(repo)).open_index()
    index[b"params.yaml"] = index_entry_from_stat(os.stat(repo / "params.yaml"), index[b"params.yaml"].sha)
    index.write()


def test_the_documented_command_restores_params_yaml_where_git_checkout_does_not(tmp_path):
    repo = tmp_path / "repo"
    stale_params(repo)
    if git(repo, "status", "--porcelain") != "":
        pytest.skip("this git re-reads the file: the stale stat cache is not reproduced")
    git(repo, "checkout", "--", "params.yaml")
    assert (repo / "params.yaml").read_text() == "alpha: abc\nseed: 42\n"  # "Updated 0 paths from the index"
    subprocess.run(RESTORE_PARAMS_COMMAND, shell=True, cwd=repo, check=True, capture_output=True)
    assert (repo / "params.yaml").read_text() == "alpha: 0.5\nseed: 42\n"
    assert git(repo, "status", "--porcelain") == ""


def test_check_params_under_a_workspace_experiment_says_how_to_restore_params_yaml(tmp_path, monkeypatch):
    text = (REPO / "params.yaml").read_text().replace("\nseed: 42\n", "\nseed: abc\n")
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    monkeypatch.setenv("DVC_EXP_NAME", "tried")
    monkeypatch.setenv("DVC_STAGE", "check_params")
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", **{k: os.environ[k] for k in os.environ if "DVC" in k}}
    (tmp_path / "params.yaml").write_text(text)
    proc = subprocess.run(
        [sys.executable, "-m", "stages.check_params"], cwd=tmp_path, capture_output=True, text=True, env=env
    )
    assert proc.returncode == 2
    err = proc.stderr.strip().splitlines()
    assert len(err) == 2 and err[0].startswith("error: params.yaml: seed") and RESTORE_PARAMS_COMMAND in err[1]
    plain = check_params_on(tmp_path, text)  # outside `dvc exp run`: the one line only
    assert len(plain.stderr.strip().splitlines()) == 1


# --- 6. stages started by the wrong interpreter -------------------------------------------------------------------


def test_a_stage_under_an_interpreter_without_the_dependencies_exits_2_in_one_line(tmp_path):
    """`python -S`: the standard library only, as the system python an unactivated `.venv/bin/dvc repro` runs."""
    proc = subprocess.run(
        [sys.executable, "-S", "-m", "stages.check_params"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith(f"error: {sys.executable} lacks ") and "torch" in err[0] and "yaml" in err[0]
    assert "source .venv/bin/activate" in err[0] and "make repro" in err[0] and "dvc checkout restores" in err[0]


def test_a_stage_whose_faceattr_is_another_checkouts_is_refused(tmp_path):
    shutil.copytree(REPO / "stages", tmp_path / "stages", ignore=shutil.ignore_patterns("__pycache__"))
    proc = subprocess.run(
        [sys.executable, "-m", "stages.check_params"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2 and "lacks faceattr (this checkout)" in proc.stderr, proc.stderr
    assert not (tmp_path / "data").exists()


def test_the_check_imports_no_dependency():
    code = "import sys, stages; print(sorted({'torch', 'pandas', 'numpy', 'mlflow', 'yaml'} & set(sys.modules)))"
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]"
