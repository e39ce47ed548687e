import math

import pytest
import torch
from helpers import with_value

from faceattr.config.schema import validate
from faceattr.errors import FaceattrError
from faceattr.train.losses import FocalLoss, make_loss, positive_weights


def test_bce_matches_hand_computed_value():
    loss = make_loss("bce", torch.zeros(1, 1))(torch.tensor([[0.0, 2.0]]), torch.tensor([[1.0, 0.0]]))
    expected = (math.log(2) + math.log(1 + math.exp(2))) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_weighted_bce_weights_positives_by_class_balance():
    labels = torch.tensor([[1.0], [0.0], [0.0], [0.0]])
    assert positive_weights(labels).tolist() == [3.0]
    loss = make_loss("weighted_bce", labels)(torch.tensor([[0.0]]), torch.tensor([[1.0]]))
    assert loss.item() == pytest.approx(3 * math.log(2), rel=1e-6)
    rare = torch.zeros(200, 1)
    rare[0] = 1
    assert positive_weights(rare).item() == 50.0  # 199 : 1, clamped


def test_focal_loss_hand_computed():
    # logit 0 → p = 0.5 for target 1: bce = ln 2, p_t = 0.5, focal = 0.25 * ln 2 with gamma 2.
    assert FocalLoss(2.0)(torch.tensor([[0.0]]), torch.tensor([[1.0]])).item() == pytest.approx(0.25 * math.log(2))
    # gamma 0 is plain BCE
    logits, target = torch.tensor([[1.5, -0.3]]), torch.tensor([[0.0, 1.0]])
    assert FocalLoss(0.0)(logits, target).item() == pytest.approx(make_loss("bce", target)(logits, target).item())


def test_unknown_loss_is_named():
    with pytest.raises(FaceattrError, match="train.loss = 'hinge' .*bce, weighted_bce, focal"):
        validate(with_value("train.loss", "hinge"))
