"""The `faceattr recipe` and `faceattr grid` commands: named recipes and the published grid, run as DVC
experiments."""

from __future__ import annotations

import argparse

from faceattr.cli.arguments import command_parser

EXAMPLES = {
    "recipe": """\
examples:
  faceattr recipe recipes/celeba-seed-halfres.yaml --data-dir PATH/TO/celeba
  faceattr recipe recipes/celeba-40-identity.yaml --data-dir PATH/TO/celeba -S alpha=0.5 -n wide
  faceattr recipe recipes/celeba-40-identity-imagenet.yaml --data-dir PATH/TO/celeba --print""",
    "grid": """\
examples:
  faceattr grid                                        # 5 experiments, one at a time; metrics/grid.md
  faceattr grid -S train.epochs=30 -j 2""",
}


def add_arguments_recipe(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """`faceattr recipe`'s options, help and examples."""
    from faceattr.pipeline import recipe  # light: argparse, yaml

    rc = command_parser(
        sub,
        "recipe",
        EXAMPLES["recipe"],
        "run a named recipe (recipes/*.yaml: params overrides) as one DVC experiment",
        description="Run a recipe, a named set of params.yaml overrides in recipes/*.yaml, as one "
        "`dvc exp run --temp` experiment (and MLflow run) named after it. DVC runs from this "
        "faceattr's own Python environment. Exit status: DVC's.",
    )
    recipe.add_arguments(rc)
    return rc


def run_recipe(args: argparse.Namespace) -> int:
    """Run `faceattr recipe`; the exit code."""
    from faceattr.pipeline.recipe import run

    return run(args)


def add_arguments_grid(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """`faceattr grid`'s options, help and examples."""
    from faceattr.pipeline import grid  # light: argparse, yaml

    gd = command_parser(
        sub,
        "grid",
        EXAMPLES["grid"],
        "the published project's grid (alpha × subset) as queued DVC experiments, tabulated",
        description="Queue alpha 0.25/0.5/1.0 on subset 1000 and subsets 1000/2000/3000 at alpha 1.0 as "
        "DVC experiments, run them, and write their test metrics to metrics/grid.md. "
        "Exit status 1 when a point failed.",
    )
    grid.add_arguments(gd)
    return gd


def run_grid(args: argparse.Namespace) -> int:
    """Run `faceattr grid`; the exit code."""
    from faceattr.pipeline.grid import run

    return run(args)
