"""Pipeline plumbing: the stage entry, dvc.yaml's code deps, the one DVC runner, experiments, recipes, the
grid, and the checks after `dvc repro`.

Run as modules: `python -m faceattr.pipeline.stage_deps [--fix]`, `.verify` (make verify), `.show` (make
show), `.experiment` (make exp), `.grid`, `.compare_plots` (make plots-diff), `.cache_check`. `faceattr recipe`
and `faceattr grid` are command.py.
"""

from faceattr.public import exports

__all__, __getattr__, __dir__ = exports(
    __name__,
    {
        "run_stage": ".stage",
        "import_closure": ".stage_deps",
        "run_dvc": ".dvc",
        "exp_run_args": ".dvc",
        "load_recipe": ".recipe",
    },
)
