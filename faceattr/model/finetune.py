"""Fine-tuning controls: which backbone blocks train (`model.freeze`), and the backbone's learning rate.

`none`: everything trains. `backbone`: only the head trains, and the backbone's BatchNorm layers stay in
eval mode (their ImageNet running statistics are kept, as a frozen feature extractor must). An integer N:
the last N blocks of the backbone (the blocks `faceattr explain --help` lists) train with the head; the
earlier ones are frozen the same way.
"""

from __future__ import annotations

from torch import nn

from faceattr.model.heads import backbone_of, head_prefix
from faceattr.model.layers import layer_names


def _blocks_of(names: list[str], blocks: list[str]) -> dict[str, str]:
    """Each (parameter or module) name, in registration order, mapped to the block it lies in.

    A name outside every block (a ResNet's `bn1`, a DenseNet's `features.norm0`) belongs to the block
    before it, which is where it runs; names before the first block belong to the first.
    """
    current, out = blocks[0], {}
    for name in names:
        for block in blocks:
            if name == block or name.startswith(block + "."):
                current = block
                break
        out[name] = current
    return out


def backbone_parameters(model: nn.Module, arch: str, head: str) -> list[nn.Parameter]:
    """The backbone's parameters (the rest of the model's are the head's)."""
    net = backbone_of(model)
    prefix = head_prefix(arch, head) if net is getattr(model, "module", model) else None
    return [p for name, p in net.named_parameters() if prefix is None or not name.startswith(prefix)]


def apply_freeze(model: nn.Module, arch: str, head: str, freeze: int | None) -> list[nn.Module]:
    """Turn off gradients of the frozen blocks; returns their BatchNorm layers, to keep in eval mode."""
    if freeze is None:
        return []
    net = backbone_of(model)
    blocks = layer_names(arch)
    trainable = set(blocks[len(blocks) - freeze :]) if freeze else set()
    backbone = {id(p) for p in backbone_parameters(model, arch, head)}
    params = [(n, p) for n, p in net.named_parameters() if id(p) in backbone]
    where = _blocks_of([n for n, _ in params], blocks)
    for name, p in params:
        p.requires_grad_(where[name] in trainable)
    modules = [(n, m) for n, m in net.named_modules() if n]
    where = _blocks_of([n for n, _ in modules], blocks)
    return [
        m
        for n, m in modules
        if isinstance(m, nn.modules.batchnorm._BatchNorm)
        and where[n] not in trainable
        and all(id(p) in backbone for p in m.parameters())
    ]


def keep_frozen_norms(norms: list[nn.Module]) -> None:
    """Call after model.train(): frozen BatchNorm layers normalise with their stored statistics."""
    for m in norms:
        m.eval()


def describe(model: nn.Module) -> str:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return f"{trainable:,} of {total:,} weights train"
