"""Training: the loop (`fit`), its set-up, checkpoints that resume exactly, optimiser, losses, augmentation,
distillation and data-parallel processes.

`fit(cfg, attributes, train, val, checkpoints_dir)` reads top to bottom in loop.py; setup.py builds the
`Run` (model, optimiser, schedule, loss) from the config; a killed run resumes from checkpoints.py's files
to the same model.
"""

from faceattr.public import exports

__all__, __getattr__, __dir__ = exports(
    __name__,
    {
        "fit": ".loop",
        "FitResult": ".loop",
        "fingerprint": ".loop",
        "Run": ".setup",
        "prepare": ".setup",
        "Checkpoints": ".checkpoints",
        "lock_checkpoints": ".checkpoints",
        "make_optimizer": ".optim",
        "make_schedule": ".optim",
        "make_loss": ".losses",
        "augment": ".augment",
        "soft_targets": ".distill",
    },
)
