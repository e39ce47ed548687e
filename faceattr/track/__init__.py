"""Tracking: MLflow runs, the registered model `faceattr` and its champion, and where a model file came from.

mlflow_runs.py starts (or resumes) one MLflow run per training and finds it again by the model's hash;
model_logging.py records the trained model; registry.py resolves `models:/faceattr@champion`; model_card.py
is `faceattr info`. `faceattr info` and `faceattr promote` are command.py.
"""

from faceattr.public import exports

__all__, __getattr__, __dir__ = exports(
    __name__,
    {
        "start_run": ".mlflow_runs",
        "resume_or_start_run": ".mlflow_runs",
        "find_run_for_model": ".mlflow_runs",
        "tracking_uri": ".mlflow_runs",
        "log_model": ".model_logging",
        "fetch": ".registry",
        "promote": ".registry",
        "card": ".model_card",
        "model_run": ".provenance",
    },
)
