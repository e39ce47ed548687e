"""Multi-label losses: plain BCE, BCE weighted by class balance, and focal loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from faceattr.config.choices import LOSSES  # noqa: F401  (re-exported)

MAX_POS_WEIGHT = 50.0


def positive_weights(train_labels: torch.Tensor) -> torch.Tensor:
    """negatives / positives per attribute, from the training split, clamped to [1/50, 50].

    Rare attributes (Mustache ≈ 4 %) otherwise settle on 'always absent'.
    """
    positives = train_labels.sum(0)
    negatives = train_labels.shape[0] - positives
    return (negatives / positives.clamp(min=1)).clamp(1 / MAX_POS_WEIGHT, MAX_POS_WEIGHT)


class FocalLoss(nn.Module):
    """Binary focal loss (Lin et al. 2017): BCE scaled by (1 - p_t)^gamma, so easy examples count less."""

    def __init__(self, gamma: float = 2.0):
        super().__init__()
        self.gamma = gamma

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
        p_t = torch.exp(-bce)
        return ((1 - p_t) ** self.gamma * bce).mean()


def make_loss(name: str, train_labels: torch.Tensor, focal_gamma: float = 2.0) -> nn.Module:
    """The loss `train.loss` names (one of LOSSES)."""
    makers = {
        "bce": lambda: nn.BCEWithLogitsLoss(),
        "weighted_bce": lambda: nn.BCEWithLogitsLoss(pos_weight=positive_weights(train_labels)),
        "focal": lambda: FocalLoss(focal_gamma),
    }
    return makers[name]()
