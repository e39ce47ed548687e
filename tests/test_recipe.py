"""Named recipes: every committed recipe's command, parsed as DVC parses it, passes the params schema."""

import re
import shlex
from pathlib import Path

import pytest
import yaml
from helpers import REPO

from faceattr.config.params_file import load_params
from faceattr.config.schema import validate
from faceattr.errors import FaceattrError
from faceattr.pipeline.recipe import apply_overrides, command, hydra_value, load_recipe

RECIPES = sorted((REPO / "recipes").glob("*.yaml"))


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_each_recipes_command_sets_params_the_schema_accepts(path, tmp_path, capsys):
    """The `dvc exp run` command `faceattr recipe --print` shows, its -S settings applied to the committed
    params.yaml by DVC's own parser (what `dvc exp run -S` does): every key exists there (DVC refuses new ones
    without `+`), the result passes the params schema that check_params enforces, and it is exactly the
    recipe's overrides (extends included) with --data-dir as an absolute data.dir."""
    from dvc.utils.hydra import apply_overrides as dvc_apply

    from faceattr.cli.entry import main

    overrides = load_recipe(path)
    assert "data.dir" not in overrides, "data.dir belongs to the user (--data-dir)"
    assert main(["recipe", str(path), "--data-dir", "celeba", "-n", "check", "--print"]) == 0
    cmd = shlex.split(capsys.readouterr().out)
    assert cmd[:6] == ["dvc", "exp", "run", "--temp", "-n", "check"]
    settings = cmd[6:]
    assert settings[::2] == ["-S"] * (len(settings) // 2) and len(settings) == 2 * (len(overrides) + 1)
    params_file = tmp_path / "params.yaml"
    params_file.write_text((REPO / "params.yaml").read_text())
    dvc_apply(str(params_file), settings[1::2])
    applied = yaml.safe_load(params_file.read_text())
    validate(applied)
    expected = apply_overrides(
        load_params(REPO / "params.yaml"), {**overrides, "data.dir": str((Path.cwd() / "celeba").resolve())}
    )
    assert applied == expected


def test_overrides_keep_their_types_through_dvc_hydra_grammar(tmp_path):
    from dvc.utils.hydra import apply_overrides as dvc_apply  # what `dvc exp run -S` uses

    values = {
        "train.image_size": [160, 130],
        "partition.files": "seed/list_partition_{size}.txt",
        "evaluate.tta_hflip": True,
        "train.lr": 0.002,
        "train.epochs": 30,
        "data.dir": "/a b/it's",
    }
    cmd = command_for(values)
    params_file = tmp_path / "params.yaml"
    params_file.write_text(
        yaml.safe_dump(
            {
                "train": {"image_size": [1, 1], "lr": 1.0, "epochs": 1},
                "partition": {"files": ""},
                "evaluate": {"tta_hflip": False},
                "data": {"dir": ""},
            }
        )
    )
    dvc_apply(str(params_file), [arg for flag, arg in zip(cmd, cmd[1:]) if flag == "-S"])
    parsed = yaml.safe_load(params_file.read_text())
    assert parsed["train"] == {"image_size": [160, 130], "lr": 0.002, "epochs": 30}
    assert parsed["partition"]["files"] == "seed/list_partition_{size}.txt"
    assert parsed["evaluate"]["tta_hflip"] is True and parsed["data"]["dir"] == "/a b/it's"


def command_for(values):
    return [arg for key, value in values.items() for arg in ("-S", f"{key}={hydra_value(value)}")]


def test_command_sets_an_absolute_data_dir_and_a_name(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("description: x\noverrides:\n  train.epochs: 3\n")
    cmd = command(recipe, "relative/celeba", name="try", extra=["alpha=0.5"])
    assert cmd[:6] == ["dvc", "exp", "run", "--temp", "-n", "try"]
    assert f"data.dir='{(Path.cwd() / 'relative/celeba').resolve()}'" in cmd and "train.epochs=3" in cmd
    assert cmd[-2:] == ["-S", "alpha=0.5"]  # extra settings come last, so they win


def test_a_malformed_recipe_names_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("overrides: [1, 2]\n")
    with pytest.raises(FaceattrError, match="bad.yaml: expected a mapping"):
        load_recipe(bad)


def test_a_recipe_extends_another_and_its_own_overrides_win(tmp_path):
    (tmp_path / "base.yaml").write_text("overrides:\n  train.epochs: 3\n  alpha: 0.5\n")
    (tmp_path / "variant.yaml").write_text("extends: base.yaml\noverrides:\n  alpha: 0.25\n  seed: 1\n")
    assert load_recipe(tmp_path / "variant.yaml") == {"train.epochs": 3, "alpha": 0.25, "seed": 1}
    (tmp_path / "orphan.yaml").write_text("extends: nowhere.yaml\noverrides:\n  seed: 1\n")
    with pytest.raises(FaceattrError, match="nowhere.yaml: recipe not found"):
        load_recipe(tmp_path / "orphan.yaml")
    (tmp_path / "a.yaml").write_text("extends: b.yaml\noverrides:\n  seed: 1\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\noverrides:\n  seed: 2\n")
    with pytest.raises(FaceattrError, match="extend each other in a loop"):
        load_recipe(tmp_path / "a.yaml")


DISTILLED = [p for p in RECIPES if "train.teachers" in load_recipe(p)]


@pytest.mark.parametrize("path", DISTILLED, ids=[p.stem for p in DISTILLED])
def test_a_distilled_recipes_teachers_are_what_its_instructions_make_and_fit_the_student(path):
    """The teachers of a distillation recipe are trained by the recipe it extends (its description says how):
    the files its instructions write are the ones train.teachers lists, and the student differs from the
    teachers' recipe only in the distillation keys, so the teachers predict its attributes at its input size
    on its data (what the train stage's soft_targets requires, checked only after hours of teacher training)."""
    raw = yaml.safe_load(path.read_text())
    base = path.parent / raw["extends"]
    teachers = load_recipe(path)["train.teachers"]
    described = " ".join(raw["description"].split())
    assert f"faceattr.pipeline.recipe recipes/{base.name}" in described  # the teachers run the recipe this one extends
    assert "-n teacher-s$s -S seed=$s" in described  # a seed each, named as `dvc get --rev` reads them below
    made = re.findall(r"for s in ([\d ]+); do dvc get \. models/model.pt --rev teacher-s\$s -o (\S+);", described)
    assert len(made) == 1, described
    seeds, pattern = made[0]
    assert re.findall(r"for s in ([\d ]+); do python -m faceattr\.pipeline\.recipe ", described) == [
        seeds
    ]  # one teacher a seed
    assert teachers == [pattern.replace("$s", s) for s in seeds.split()]
    student = apply_overrides(load_params(REPO / "params.yaml"), load_recipe(path))
    teacher = apply_overrides(load_params(REPO / "params.yaml"), load_recipe(base))
    validate(student)
    changed = {
        f"{group}.{key}"
        for group in student
        if isinstance(student[group], dict)
        for key in student[group]
        if student[group][key] != teacher[group].get(key)
    }
    changed |= {group for group in student if not isinstance(student[group], dict) and student[group] != teacher[group]}
    assert changed <= {"train.teachers", "train.distill_weight"}, changed


def test_faceattr_recipe_runs_dvc_of_its_own_environment_without_it_on_path(tmp_path):
    """`.venv/bin/faceattr recipe …` with the environment not activated (no dvc on PATH): DVC still runs, from
    the interpreter's environment, and answers for itself (here: this folder is no DVC repository)."""
    import os
    import subprocess
    import sys

    faceattr = str(Path(sys.executable).parent / "faceattr")
    env = {**os.environ, "PATH": "/usr/bin:/bin", "DVC_NO_ANALYTICS": "1"}
    recipe = str(REPO / "recipes" / "celeba-seed-halfres.yaml")
    shown = subprocess.run(
        [faceattr, "recipe", recipe, "--data-dir", "celeba", "-n", "x", "--print"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert shown.returncode == 0 and shown.stdout.startswith("dvc exp run --temp -n x -S ")
    ran = subprocess.run(
        [faceattr, "recipe", recipe, "--data-dir", "celeba", "-n", "x"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert ran.returncode != 0 and "not inside of a DVC repository" in ran.stderr, ran.stderr
    assert "FileNotFoundError" not in ran.stderr and "Traceback" not in ran.stderr
    bad = subprocess.run(
        [faceattr, "recipe", str(tmp_path / "none.yaml")], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert bad.returncode == 2 and "none.yaml: recipe not found" in bad.stderr
