"""The training loop: multi-label BCE, AdamW with warm-up and cosine decay, batched augmentation,
best-by-validation-loss weights, early stopping, and per-epoch checkpoints that resume exactly.

Everything random (weight init, shuffling, augmentation, dropout) is seeded and its state is saved in
the checkpoint, so an interrupted run resumed from its last checkpoint ends with the same weights as
an uninterrupted one.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import math
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from faceattr import schema
from faceattr.atomic import atomic_path
from faceattr.device import autocast, select_device, set_threads, use_bf16
from faceattr.errors import FaceattrError
from faceattr.images import augment, normalize
from faceattr.inference import predict_logits
from faceattr.losses import make_loss
from faceattr.models import ModelSpec, build_model, load_pretrained

CHECKPOINT_FORMAT = "faceattr-checkpoint/1"


@dataclass
class TrainConfig:
    """Every knob of a training run (the `train` group of params.yaml, plus alpha and seed)."""

    arch: str = "mobilenet_v2"
    alpha: float = 1.0
    image_size: tuple[int, int] = (109, 89)
    epochs: int = 10
    batch_size: int = 64
    optimizer: str = "adamw"
    lr: float = 0.002
    weight_decay: float = 0.05
    momentum: float = 0.9
    warmup_epochs: float = 1.0
    schedule: str = "cosine"
    label_smoothing: float = 0.0
    loss: str = "bce"
    focal_gamma: float = 2.0
    ema_decay: float = 0.0
    augment: dict = field(default_factory=lambda: {"hflip": True})
    early_stopping_patience: int = 0
    seed: int = 42
    device: str = "auto"
    precision: str = "auto"
    channels_last: bool = True
    threads: int = 0
    pretrained: str = ""


@dataclass
class Split:
    """Images (uint8 N×3×H×W) and their 0/1 labels (float N×A)."""

    images: torch.Tensor
    labels: torch.Tensor


@dataclass
class FitResult:
    model: nn.Module
    spec: ModelSpec
    history: list[dict]
    best_epoch: int
    stopped_early: bool
    device: str
    bf16: bool
    seconds: float
    images_per_second: float


def _make_optimizer(cfg: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    # No weight decay on biases and norm weights, as in torchvision's reference recipes.
    decay, no_decay = [], []
    for p in model.parameters():
        (no_decay if p.ndim <= 1 else decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.lr)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=True)
    if cfg.optimizer == "rmsprop":
        return torch.optim.RMSprop(groups, lr=cfg.lr, momentum=cfg.momentum, alpha=0.9, eps=0.0316)
    raise FaceattrError(f"train.optimizer: expected adamw, sgd or rmsprop, got {cfg.optimizer!r}")


def _make_schedule(cfg: TrainConfig, optimizer: torch.optim.Optimizer, steps_per_epoch: int):
    total = cfg.epochs * steps_per_epoch
    warmup = min(int(round(cfg.warmup_epochs * steps_per_epoch)), total - 1) if cfg.warmup_epochs > 0 else 0
    if cfg.schedule not in ("cosine", "constant"):
        raise FaceattrError(f"train.schedule: expected cosine or constant, got {cfg.schedule!r}")

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if cfg.schedule == "constant":
            return 1.0
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def fingerprint(cfg: TrainConfig, attributes: list[str], train: Split, val: Split) -> str:
    """Identifies a run's inputs, so a checkpoint is only resumed by the run that wrote it."""
    h = hashlib.sha256(json.dumps([asdict(cfg), attributes], sort_keys=True, default=str).encode())
    for t in (train.images, train.labels, val.images, val.labels):
        h.update(t.contiguous().numpy().tobytes())
    return h.hexdigest()


class Checkpoints:
    """`last.pt` (and the one before it, `prev.pt`) in a folder; a corrupt one falls back to the older."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.last = self.folder / "last.pt"
        self.prev = self.folder / "prev.pt"

    def save(self, state: dict) -> None:
        buffer = io.BytesIO()
        torch.save(state, buffer)
        payload = buffer.getvalue()
        blob = hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload
        if self.last.exists():
            self.last.replace(self.prev)
        with atomic_path(self.last) as tmp:
            tmp.write_bytes(blob)

    def load(self, expected_fingerprint: str) -> dict | None:
        for path in (self.last, self.prev):
            if not path.exists():
                continue
            blob = path.read_bytes()
            digest, _, payload = blob.partition(b"\n")
            if hashlib.sha256(payload).hexdigest().encode() != digest:
                warnings.warn(f"{path}: checkpoint is corrupt (checksum mismatch); ignoring it", stacklevel=2)
                continue
            state = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=False)
            if state.get("format") != CHECKPOINT_FORMAT or state.get("fingerprint") != expected_fingerprint:
                print(f"note: {path} belongs to other params or data; starting fresh", file=sys.stderr)
                return None
            return state
        return None

    def clear(self) -> None:
        for path in (self.last, self.prev):
            path.unlink(missing_ok=True)


def _mean_accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    return float(((logits > 0).float() == labels).float().mean())


def fit(cfg: TrainConfig, attributes: list[str], train: Split, val: Split, checkpoint_dir: str | Path,
        on_epoch: Callable[[dict], None] | None = None) -> FitResult:
    """Train a model; resumes from a matching checkpoint in `checkpoint_dir`, and removes it when done."""
    if cfg.epochs < 1:
        raise FaceattrError(f"train.epochs: must be ≥ 1, got {cfg.epochs}")
    if len(train.images) < 2:
        raise FaceattrError("the training split has fewer than 2 images; use a larger subset")
    if len(val.images) == 0:
        raise FaceattrError("the validation split is empty; check partition.fractions")
    device = select_device(cfg.device)
    bf16 = use_bf16(device, cfg.precision)
    if device.type == "cpu":
        set_threads(cfg.threads)
    torch.use_deterministic_algorithms(device.type == "cpu", warn_only=True)
    torch.manual_seed(cfg.seed)
    spec = ModelSpec(arch=cfg.arch, alpha=cfg.alpha, attributes=list(attributes), image_size=tuple(cfg.image_size))
    model = build_model(cfg.arch, len(attributes), cfg.alpha)
    if cfg.pretrained:
        skipped = load_pretrained(model, cfg.pretrained)
        print(f"started from {cfg.pretrained} (new: {', '.join(skipped) or 'nothing'})", file=sys.stderr)
    model = model.to(device)
    memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    optimizer = _make_optimizer(cfg, model)
    batch_size = min(cfg.batch_size, len(train.images))
    steps_per_epoch = len(train.images) // batch_size  # the last partial batch is dropped (BatchNorm)
    scheduler = _make_schedule(cfg, optimizer, steps_per_epoch)
    generator = torch.Generator().manual_seed(cfg.seed)
    criterion = make_loss(cfg.loss, train.labels, cfg.focal_gamma).to(device)
    val_criterion = make_loss(cfg.loss, train.labels, cfg.focal_gamma)  # on the CPU, where val logits are
    ema = None
    if cfg.ema_decay:
        if not 0 < cfg.ema_decay < 1:
            raise FaceattrError(f"train.ema_decay: expected 0 (off) or a number in (0, 1), got {cfg.ema_decay}")
        ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema_decay), use_buffers=True)

    checkpoints = Checkpoints(checkpoint_dir)
    run_id = fingerprint(cfg, attributes, train, val)
    history: list[dict] = []
    best_state, best_loss, best_epoch, bad_epochs, start_epoch = None, math.inf, 0, 0, 0
    stopped_early = False
    state = checkpoints.load(run_id)
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if ema is not None:
            ema.load_state_dict(state["ema"])
        generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        if device.type == "cuda" and state.get("cuda_rng") is not None:
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        history, best_state, best_loss = state["history"], state["best_state"], state["best_loss"]
        best_epoch, bad_epochs, start_epoch = state["best_epoch"], state["bad_epochs"], state["epoch"] + 1
        stopped_early = bool(cfg.early_stopping_patience and bad_epochs >= cfg.early_stopping_patience)
        print(f"resuming from {checkpoints.last} after epoch {start_epoch}", file=sys.stderr)

    train_x, train_y = train.images.to(device), train.labels.to(device)
    aug = dict(cfg.augment or {})
    smoothing = cfg.label_smoothing
    started = time.perf_counter()
    seen = 0
    for epoch in range(start_epoch, cfg.epochs):
        if stopped_early:
            break
        model.train()
        order = torch.randperm(len(train_x), generator=generator)
        loss_sum, acc_sum = 0.0, 0.0
        progress = _progress(steps_per_epoch, f"epoch {epoch + 1}/{cfg.epochs}")
        for step in range(steps_per_epoch):
            idx = order[step * batch_size:(step + 1) * batch_size].to(device)
            x = augment(normalize(train_x[idx], spec.mean, spec.std), generator, **aug)
            x = x.contiguous(memory_format=memory_format)
            y = train_y[idx]
            target = y * (1 - smoothing) + 0.5 * smoothing if smoothing else y
            with autocast(device, bf16):
                logits = model(x)
            loss = criterion(logits.float(), target)
            if not torch.isfinite(loss):
                raise FaceattrError(
                    f"training diverged: the loss is {loss.item()} at epoch {epoch + 1}, step {step + 1}; "
                    f"no model was written (lower train.lr or check the labels)"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            if ema is not None:
                ema.update_parameters(model)
            loss_sum += loss.item()
            acc_sum += _mean_accuracy(logits.detach().float(), y)
            seen += len(idx)
            progress.update(1)
        progress.close()

        scored = ema.module if ema is not None else model
        val_logits = predict_logits(scored, val.images, spec, device, bf16=bf16, channels_last=cfg.channels_last)
        val_loss = float(val_criterion(val_logits, val.labels))
        record = {
            "epoch": epoch + 1,
            "train_loss": round(loss_sum / steps_per_epoch, 6),
            "train_acc": round(acc_sum / steps_per_epoch, 6),
            "val_loss": round(val_loss, 6),
            "val_acc": round(_mean_accuracy(val_logits, val.labels), 6),
            "lr": round(optimizer.param_groups[0]["lr"], 8),
        }
        history.append(record)
        if val_loss < best_loss:
            best_loss, best_epoch, bad_epochs = val_loss, epoch + 1, 0
            best_state = copy.deepcopy({k: v.detach().cpu() for k, v in scored.state_dict().items()})
        else:
            bad_epochs += 1
        if cfg.early_stopping_patience and bad_epochs >= cfg.early_stopping_patience:
            stopped_early = True
        print(f"epoch {record['epoch']}/{cfg.epochs}: train loss {record['train_loss']:.4f} acc "
              f"{record['train_acc']:.4f} | val loss {record['val_loss']:.4f} acc {record['val_acc']:.4f}",
              file=sys.stderr, flush=True)
        if on_epoch is not None:
            on_epoch(record)
        checkpoints.save({
            "format": CHECKPOINT_FORMAT, "fingerprint": run_id, "epoch": epoch,
            "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(), "generator": generator.get_state(),
            "ema": ema.state_dict() if ema is not None else None,
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if device.type == "cuda" else None,
            "history": history, "best_state": best_state, "best_loss": best_loss,
            "best_epoch": best_epoch, "bad_epochs": bad_epochs,
        })
        if stopped_early:
            print(f"early stopping: no val-loss improvement for {bad_epochs} epochs", file=sys.stderr)

    seconds = time.perf_counter() - started
    model.load_state_dict(best_state)
    model = model.to(memory_format=torch.contiguous_format).cpu().eval()
    checkpoints.clear()
    return FitResult(model=model, spec=spec, history=history, best_epoch=best_epoch, stopped_early=stopped_early,
                     device=str(device), bf16=bf16, seconds=seconds,
                     images_per_second=seen / seconds if seconds > 0 else 0.0)


def _progress(total: int, desc: str):
    """A tqdm bar on a terminal; silent otherwise (DVC logs, CI)."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, leave=False, disable=not sys.stderr.isatty(), unit="batch")


def config_from_params(params: dict) -> TrainConfig:
    """TrainConfig from params.yaml: the `train` group, `model.arch`, and the top-level alpha and seed."""
    from dataclasses import fields

    group = dict(params.get("train") or {})
    known = {f.name for f in fields(TrainConfig)} - {"arch", "alpha", "seed", "pretrained"}
    unknown = sorted(set(group) - known)
    if unknown:
        raise FaceattrError(f"params.yaml: unknown key(s) train.{', train.'.join(unknown)}; known: {', '.join(sorted(known))}")
    size = list(group.get("image_size", TrainConfig.image_size))
    schema.image_size("train.image_size", size)
    group["image_size"] = tuple(size)
    model = params.get("model") or {}
    return TrainConfig(**group, arch=model.get("arch", "mobilenet_v2"), pretrained=model.get("pretrained") or "",
                       alpha=float(params.get("alpha", 1.0)), seed=int(params.get("seed", 0)))
