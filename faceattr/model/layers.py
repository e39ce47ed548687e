"""The named blocks of each architecture, for Grad-CAM and feature maps: a light module (no torch), so
`faceattr --help` can list them instantly."""

from __future__ import annotations

from faceattr.errors import FaceattrError

# torchvision's MobileNets and EfficientNet keep their blocks in `features` (this many); ResNets name theirs.
# The last block is the last convolutional one: Grad-CAM's layer.
_FEATURE_BLOCKS = {"mobilenet_v2": 19, "mobilenet_v3_small": 13, "mobilenet_v3_large": 17, "efficientnet_b0": 9}
_RESNET_BLOCKS = ("conv1", "layer1", "layer2", "layer3", "layer4")
_RESNETS = ("resnet18", "resnet50", "resnet101", "resnet152")
# DenseNet's blocks live in `features` under their own names; norm5 is its last (before the final ReLU).
_DENSENET_BLOCKS = (
    "features.conv0",
    "features.denseblock1",
    "features.transition1",
    "features.denseblock2",
    "features.transition2",
    "features.denseblock3",
    "features.transition3",
    "features.denseblock4",
    "features.norm5",
)


def layer_names(arch: str) -> list[str]:
    """The layers whose feature maps can be shown, input side first; the last is Grad-CAM's layer."""
    if arch in _RESNETS:
        return list(_RESNET_BLOCKS)
    if arch == "densenet121":
        return list(_DENSENET_BLOCKS)
    if arch not in _FEATURE_BLOCKS:
        raise FaceattrError(
            f"unknown architecture {arch!r}; allowed: {', '.join([*_FEATURE_BLOCKS, *_RESNETS, 'densenet121'])}"
        )
    return [f"features.{k}" for k in range(_FEATURE_BLOCKS[arch])]


def layers_help() -> str:
    """One line per family for `--help`: which layer names are accepted."""
    mobile = ", ".join(f"{a} features.0…features.{n - 1}" for a, n in _FEATURE_BLOCKS.items())
    return f"{mobile}; {'/'.join(_RESNETS)} {', '.join(_RESNET_BLOCKS)}; densenet121 {', '.join(_DENSENET_BLOCKS)}"
