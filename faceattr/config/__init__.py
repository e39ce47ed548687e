"""The typed configuration: params.yaml read safely, checked against a typed model, and the pipeline's paths.

Torch-free by rule (the params check and every `--help` import it): `load_config()` gives the checked
`Params`, one group per stage (`params.model`, `params.train`, …) handed to the code that uses it; a bad value
is one line naming its key. `paths` lists every file a stage reads or writes (paths.yaml, which dvc.yaml
reads too).
"""

from faceattr.public import exports

__all__, __getattr__, __dir__ = exports(
    __name__,
    {
        "load_config": ".schema",
        "validate": ".schema",
        "Params": ".schema",
        "TrainConfig": ".schema",
        "load_params": ".params_file",
        "PARAMS_FILE": ".params_file",
        "Rejected": ".errors",
    },
)
