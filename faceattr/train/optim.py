"""The optimiser and learning-rate schedule a training run's config asks for."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn

from faceattr.config.schema import Train

# RMSprop's constants (torch calls the smoothing constant of its squared-gradient average `alpha`)
RMSPROP_SMOOTHING = 0.9
RMSPROP_EPS = 0.0316


def make_optimizer(cfg: Train, model: nn.Module, backbone: Iterable[nn.Parameter]) -> torch.optim.Optimizer:
    """The `train` group's optimiser over `model`, whose backbone's parameters are `backbone`."""
    # No weight decay on biases and norm weights, as in torchvision's reference recipes. The head's groups
    # come first (param_groups[0]'s lr is the one logged); the backbone's learn at lr × backbone_lr_scale;
    # frozen weights are left out.
    backbone = {id(p) for p in backbone}
    groups = []
    for in_backbone, scale in ((False, 1.0), (True, cfg.backbone_lr_scale)):
        params = [p for p in model.parameters() if p.requires_grad and (id(p) in backbone) == in_backbone]
        for decay, weight_decay in ((True, cfg.weight_decay), (False, 0.0)):
            chosen = [p for p in params if (p.ndim > 1) == decay]
            if chosen:
                groups.append({"params": chosen, "weight_decay": weight_decay, "lr": cfg.lr * scale})
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=True)
    if cfg.optimizer == "rmsprop":
        return torch.optim.RMSprop(groups, lr=cfg.lr, momentum=cfg.momentum, alpha=RMSPROP_SMOOTHING, eps=RMSPROP_EPS)
    return torch.optim.AdamW(groups, lr=cfg.lr)


def make_schedule(cfg: Train, optimizer: torch.optim.Optimizer, steps_per_epoch: int):
    total = cfg.epochs * steps_per_epoch
    warmup = min(int(round(cfg.warmup_epochs * steps_per_epoch)), total - 1) if cfg.warmup_epochs > 0 else 0

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if cfg.schedule == "constant":
            return 1.0
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
