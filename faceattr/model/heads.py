"""Classification heads on a torchvision backbone, and which of a model's weights are backbone or head.

`linear` is torchvision's own classifier (one logit per attribute after global pooling), so a model with
it is exactly the torchvision model. `mlp` puts dense layers with dropout in the classifier's place, as the
frozen-ResNet50 projects do. `attention` reads the last feature map as a sequence of H×W tokens through a
bidirectional LSTM and multi-head self-attention, as the CNN+BiLSTM+attention projects do; it needs the map
before pooling, so the torchvision model is wrapped (`SpatialHeadModel`), and `backbone_of` unwraps it
wherever block names matter (Grad-CAM, freezing), so those names are the same for every head.
"""

from __future__ import annotations

import torch
from torch import nn

from faceattr.config.choices import HEADS  # noqa: F401  (re-exported)

MLP_HIDDEN = 512
MLP_DROPOUT = 0.3
ATTENTION_DIM = 256
ATTENTION_HEADS = 4

_RESNETS = ("resnet18", "resnet50", "resnet101", "resnet152")


def classifier_slot(arch: str) -> tuple[str, str]:
    """Where torchvision keeps the final Linear layer: (parent module's name, attribute)."""
    if arch in _RESNETS:
        return "", "fc"
    if arch == "densenet121":
        return "", "classifier"
    if arch == "mobilenet_v3_small" or arch == "mobilenet_v3_large":
        return "classifier", "3"
    return "classifier", "1"  # mobilenet_v2, efficientnet_b0: Dropout, Linear


def head_prefix(arch: str, head: str) -> str:
    """The state_dict prefix of the weights that are the head (everything else is the backbone)."""
    if head == "attention":
        return "head."
    parent, attr = classifier_slot(arch)
    return f"{parent}.{attr}." if parent else f"{attr}."


def feature_map(net: nn.Module, arch: str, x: torch.Tensor) -> torch.Tensor:
    """The torchvision model's last feature map (N×C×H×W), before its pooling and classifier."""
    if arch in _RESNETS:
        x = net.maxpool(net.relu(net.bn1(net.conv1(x))))
        return net.layer4(net.layer3(net.layer2(net.layer1(x))))
    x = net.features(x)
    return torch.relu(x) if arch == "densenet121" else x  # DenseNet applies its last ReLU in forward


class MLPHead(nn.Sequential):
    """Pooled features → dense → ReLU → dropout → logits."""

    def __init__(self, in_features: int, num_outputs: int, hidden: int = MLP_HIDDEN, dropout: float = MLP_DROPOUT):
        super().__init__(
            nn.Linear(in_features, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout), nn.Linear(hidden, num_outputs)
        )


class AttentionHead(nn.Module):
    """Feature-map tokens → projection → BiLSTM → multi-head self-attention (residual) → mean pool → logits."""

    def __init__(self, channels: int, num_outputs: int, dim: int = ATTENTION_DIM, heads: int = ATTENTION_HEADS):
        super().__init__()
        self.project = nn.Linear(channels, dim)
        self.lstm = nn.LSTM(dim, dim // 2, batch_first=True, bidirectional=True)
        self.attention = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(0.2)
        self.classifier = nn.Linear(dim, num_outputs)

    def forward(self, fmap: torch.Tensor) -> torch.Tensor:
        tokens = fmap.float().flatten(2).transpose(1, 2)  # N×(H·W)×C, raster order
        tokens = self.project(tokens)
        tokens, _ = self.lstm(tokens)
        attended, _ = self.attention(tokens, tokens, tokens, need_weights=False)
        pooled = self.norm(tokens + attended).mean(dim=1)
        return self.classifier(self.dropout(pooled))


class SpatialHeadModel(nn.Module):
    """A torchvision backbone whose last feature map feeds a head that sees every position."""

    def __init__(self, backbone: nn.Module, arch: str, head: nn.Module):
        super().__init__()
        self.backbone, self.arch, self.head = backbone, arch, head
        # the pooled classifier is never called: removed, so no weight goes without a gradient (DDP)
        setattr(backbone, "fc" if arch in _RESNETS else "classifier", nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(feature_map(self.backbone, self.arch, x))


def attach_head(net: nn.Module, arch: str, head: str, num_outputs: int) -> nn.Module:
    """`net` (a torchvision model sized for `num_outputs`) with the chosen head."""
    parent, attr = classifier_slot(arch)
    owner = net.get_submodule(parent) if parent else net
    linear = getattr(owner, attr)
    if head == "linear":
        return net
    if head == "mlp":
        setattr(owner, attr, MLPHead(linear.in_features, num_outputs))
        return net
    channels = net.classifier[0].in_features if arch.startswith("mobilenet_v3") else linear.in_features
    return SpatialHeadModel(net, arch, AttentionHead(channels, num_outputs))


def backbone_of(model: nn.Module) -> nn.Module:
    """The torchvision model inside (itself, unless wrapped for the attention head; DDP unwrapped too)."""
    model = getattr(model, "module", model)
    return model.backbone if isinstance(model, SpatialHeadModel) else model
