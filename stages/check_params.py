"""DVC stage `check_params`: validate params.yaml before any other stage runs (or removes its outputs)."""

from faceattr.atomic import write_text
from faceattr.config.paths import PARAMS_CHECKED
from faceattr.config.schema import load_config
from faceattr.pipeline.stage import run_stage


def main() -> None:
    load_config()
    # Constant content: downstream stages depend on this file for ordering only, so a params change
    # re-runs just the stages that use the changed keys.
    write_text(PARAMS_CHECKED, "params.yaml is valid\n")
    print("check_params: params.yaml is valid")


if __name__ == "__main__":
    run_stage(main)
