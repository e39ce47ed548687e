"""Evaluation: batched inference, metrics per attribute, thresholds, and the PNG figures.

One inference path (`predict_logits`) serves validation, evaluation and prediction; `evaluate` gives the
headline and per-attribute metrics against the majority-class baseline; figures.py draws the plots stage's
PNGs. `faceattr evaluate` is command.py.
"""

from faceattr.public import exports

__all__, __getattr__, __dir__ = exports(
    __name__,
    {
        "predict_logits": ".inference",
        "predict_probabilities": ".evaluation",
        "evaluate": ".evaluation",
        "Evaluation": ".evaluation",
        "headline": ".evaluation",
        "operating_thresholds": ".evaluation",
        "attribute_metrics": ".metrics",
        "tune_thresholds": ".metrics",
        "majority_labels": ".metrics",
    },
)
