"""The named choices of params.yaml, in one light module (no torch): the typed config (faceattr.config.schema)
checks params against them, and the modules that act on them (models, heads, losses, metrics, partition,
training, device) import them from here instead of the config importing those heavy modules."""

from __future__ import annotations

ARCHITECTURES = (
    "mobilenet_v2",
    "mobilenet_v3_small",
    "mobilenet_v3_large",
    "resnet18",
    "resnet50",
    "resnet101",
    "resnet152",
    "efficientnet_b0",
    "densenet121",
)
HEADS = ("linear", "mlp", "attention")
FREEZE = ("none", "backbone")  # or the number of last backbone blocks that train
OPTIMIZERS = ("adamw", "sgd", "rmsprop")
SCHEDULES = ("cosine", "constant")
LOSSES = ("bce", "weighted_bce", "focal")
PRECISIONS = ("auto", "bf16", "fp32")
DEVICES = ("auto", "cpu", "cuda", "mps")  # or cuda:N
THRESHOLD_OBJECTIVES = ("balanced_accuracy", "f1", "accuracy")
STRATEGIES = ("first", "random", "identity", "official", "file")
ON_BAD_IMAGE = ("skip", "fail")
EXPLAIN_STRIDES = (2, 4, 8, 16, 32)  # explain.layer strideN

SEED_MAX = 2**32 - 1  # what every seeded generator here accepts (numpy, torch, Python's random)
