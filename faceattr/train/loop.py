"""The training loop: multi-label BCE, AdamW with warm-up and cosine decay, batched augmentation,
best-by-validation-loss weights, early stopping, and per-epoch checkpoints that resume exactly.

Everything random (weight init, shuffling, augmentation, dropout) is seeded and its state is saved in
the checkpoint, so an interrupted run resumed from its last checkpoint ends with the same weights as
an uninterrupted one.
"""

from __future__ import annotations

import copy
import hashlib
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from faceattr.config.schema import Train, TrainConfig
from faceattr.data.batches import Batches, place
from faceattr.data.decoding import normalize
from faceattr.data.pixels import Images, as_images
from faceattr.data.splits import Split
from faceattr.device import autocast
from faceattr.errors import FaceattrError
from faceattr.evaluate.inference import predict_logits
from faceattr.model.finetune import keep_frozen_norms
from faceattr.model.model_file import ModelSpec
from faceattr.progress import Progress
from faceattr.train import distributed
from faceattr.train.augment import augment_batch, draw_augment, draw_mixup
from faceattr.train.checkpoints import Checkpoints
from faceattr.train.distill import mix_targets
from faceattr.train.setup import Epochs, Run, checkpoint_state, prepare, restore


@dataclass
class FitResult:
    model: nn.Module
    spec: ModelSpec
    history: list[dict]
    best_epoch: int
    stopped_early: bool
    device: str
    bf16: bool
    seconds: float  # the whole fit, validation and checkpoints included
    images_per_second: float  # training steps only (what the benchmark compares)
    teachers_sha256: str = ""  # over the teachers' files ("" without distillation)


def fingerprint(cfg: TrainConfig, attributes: list[str], train: Split, val: Split, teachers_sha256: str = "") -> str:
    """Identifies a run's inputs, so a checkpoint is only resumed by the run that wrote it.

    The process count is left out: a run interrupted under torchrun may resume in one process and back.
    Teachers count by their content (`teachers_sha256`), not only their paths.
    """
    model = cfg.model
    # the flat mapping runs have always been identified by, so existing checkpoints still resume
    settings = {
        **cfg.train.model_dump(exclude={"processes"}),
        "arch": model.arch,
        "alpha": cfg.alpha,
        "seed": cfg.seed,
        "pretrained": model.weights,
        "head": model.head,
        "freeze": model.freeze_blocks,
    }
    h = hashlib.sha256(json.dumps([settings, attributes], sort_keys=True, default=str).encode())
    h.update(teachers_sha256.encode())
    for split in (train, val):
        h.update(as_images(split.images).digest())
        h.update(split.labels.contiguous().numpy().tobytes())
    return h.hexdigest()


@torch.no_grad()
def recalibrate_batchnorm(
    module: nn.Module,
    images: Images,
    spec: ModelSpec,
    device: torch.device,
    bf16: bool,
    memory_format: torch.memory_format,
    batch_size: int = 64,
    max_images: int = 1024,
) -> None:
    """Recompute BatchNorm running statistics for `module`'s weights from (up to) `max_images` training images.

    An exponential moving average of weights cannot use running statistics averaged the same way: when
    the weights move far within the average's horizon, the averaged statistics no longer match the
    averaged weights, and the mismatch compounds through the layers (seen on real CelebA: a constant
    output). So the averaged model's statistics are measured afresh, as SWA's `update_bn` does, on a fixed
    set of images, identical in every process and on every resume. (`torch.optim.swa_utils.update_bn` itself
    would also reset the frozen layers' statistics under `model.freeze`, and feeds its loader's batches as
    they are: no input normalisation, channels_last or bf16 autocast as in training.)
    """
    # frozen layers (model.freeze) keep their statistics: they normalise in eval mode while training
    every = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    frozen = [m for m in every if m.weight is not None and not m.weight.requires_grad]
    norms = [m for m in every if all(m is not f for f in frozen)]
    if not norms:
        return
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average over the batches below
    was_training = module.training
    module.train()
    keep_frozen_norms(frozen)
    count = min(len(images), max_images)
    for start in range(0, count, batch_size):
        batch = images.gather(torch.arange(start, min(count, start + batch_size))).to(device)
        x = normalize(batch, spec.mean, spec.std).contiguous(memory_format=memory_format)
        with autocast(device, bf16):
            module(x)
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    module.train(was_training)


def _mean_accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    return float(((logits > 0).float() == labels).float().mean())


def _train_epoch(
    cfg: Train, r: Run, train_images: Images, train_y: torch.Tensor, epoch: int
) -> tuple[float, float, float]:
    """One epoch's steps; the summed batch losses and accuracies, and the seconds the steps took."""
    w, device, batch_size, memory_format = r.world, r.device, r.batch_size, r.memory_format
    r.model.train()
    keep_frozen_norms(r.frozen_norms)
    order = torch.randperm(len(train_images), generator=r.generator)
    batches = [order[k * batch_size : (k + 1) * batch_size] for k in range(r.steps_per_epoch)]
    loss_sum, acc_sum = 0.0, 0.0
    progress = _progress(r.steps_per_epoch, f"epoch {epoch + 1}/{cfg.epochs}", w.is_main)
    epoch_started = time.perf_counter()
    share = w.share(batch_size)
    mine = [b[share] for b in batches]
    aug = cfg.augment.model_dump()
    for step, images in enumerate(Batches(train_images, device, mine)):
        draw = draw_augment(batch_size, r.generator, **aug)[share]
        x = augment_batch(images, draw, r.spec.mean, r.spec.std, memory_format)
        idx = mine[step].to(device)
        y = train_y[idx]
        target = mix_targets(y, 0.5, cfg.label_smoothing)  # label smoothing: towards 1/2
        if r.soft is not None:
            target = mix_targets(target, r.soft[idx], cfg.distill_weight)
        if cfg.mixup:  # after the other draws, so runs without mixup keep their random stream
            lam, keys = draw_mixup(batch_size, r.generator, cfg.mixup)
            pair = keys[share].argsort().to(device)
            x = (x * lam + x[pair] * (1 - lam)).contiguous(memory_format=memory_format)
            target = mix_targets(target, target[pair], 1 - lam)
        with autocast(device, r.bf16):
            logits = r.model(x)
        loss = r.criterion(logits.float(), target)
        global_loss = distributed.mean(loss, w)
        if not torch.isfinite(global_loss):
            raise FaceattrError(
                f"training diverged: the loss is {global_loss.item()} at epoch {epoch + 1}, step {step + 1}; "
                f"no model was written (lower train.lr or check the labels)"
            )
        r.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        r.optimizer.step()
        r.scheduler.step()
        if r.ema is not None:
            r.ema.update_parameters(r.model_without_ddp)
        loss_sum += global_loss.item()
        acc_sum += _mean_accuracy(logits.detach().float(), y)
        progress.update(1)
    progress.close()
    return loss_sum, acc_sum, time.perf_counter() - epoch_started  # loss.item() above syncs the device


def _validate(
    cfg: Train,
    r: Run,
    p: Epochs,
    train_images: Images,
    val_images: Images,
    val_labels: torch.Tensor,
    epoch: int,
    loss_sum: float,
    acc_sum: float,
) -> dict:
    """Score the epoch's weights on the validation split; record the epoch and keep the best weights."""
    distributed.broadcast_buffers(r.model_without_ddp, r.world)
    scored = r.ema.module if r.ema is not None else r.model_without_ddp
    if r.ema is not None:
        recalibrate_batchnorm(scored, train_images, r.spec, r.device, r.bf16, r.memory_format)
    val_logits = predict_logits(scored, val_images, r.spec, r.device, bf16=r.bf16, channels_last=cfg.channels_last)
    val_loss = float(r.val_criterion(val_logits, val_labels))
    record = {
        "epoch": epoch + 1,
        "train_loss": round(loss_sum / r.steps_per_epoch, 6),
        "train_acc": round(
            float(distributed.mean(torch.tensor(acc_sum, dtype=torch.float64, device=r.device), r.world))
            / r.steps_per_epoch,
            6,
        ),
        "val_loss": round(val_loss, 6),
        "val_acc": round(_mean_accuracy(val_logits, val_labels), 6),
        "lr": round(r.optimizer.param_groups[0]["lr"], 8),
    }
    p.history.append(record)
    if val_loss < p.best_loss:
        p.best_loss, p.best_epoch, p.bad_epochs = val_loss, epoch + 1, 0
        p.best_state = copy.deepcopy({k: v.detach().cpu() for k, v in scored.state_dict().items()})
    else:
        p.bad_epochs += 1
    if cfg.early_stopping_patience and p.bad_epochs >= cfg.early_stopping_patience:
        p.stopped_early = True
    return record


StartHook = Callable[[str | None, list[dict], str | None], str | None]


def fit(
    cfg: TrainConfig,
    attributes: list[str],
    train: Split,
    val: Split,
    checkpoint_dir: str | Path,
    on_epoch: Callable[[dict], None] | None = None,
    on_start: StartHook | None = None,
) -> FitResult:
    """Train a model; resumes from a matching checkpoint in `checkpoint_dir`, and removes it when done.

    `on_start(resumed_run_id, history, abandoned_run_id)` is called (process 0) once the checkpoint is
    read, before the first step: with the tracking-run id stored in the resumed checkpoint and the
    epochs it already holds (or None and []), and the run id of a checkpoint discarded as belonging to
    other params. It returns the run id to store in later checkpoints, so a run killed at any point is
    resumed into the same tracking run.

    Under torchrun every process calls this: each trains on its share of each global batch of
    `cfg.train.batch_size` images (the augmentation of the whole batch is drawn by every process, so the
    run follows the single-process one), all validate alike, and process 0 alone writes checkpoints.
    """
    train_images, val_images = as_images(train.images), as_images(val.images)
    if len(train_images) < 2:
        raise FaceattrError("the training split has fewer than 2 images; use a larger subset")
    if len(val_images) == 0:
        raise FaceattrError("the validation split is empty; check partition.fractions")
    r = prepare(cfg, attributes, train_images, train.labels)
    w = r.world
    checkpoints = Checkpoints(checkpoint_dir)
    run_id = fingerprint(cfg, attributes, train, val, r.teachers_sha256)
    state = checkpoints.load(run_id)
    p = restore(cfg.train, r, state)
    if state is not None and w.is_main:
        print(f"resuming from {checkpoints.loaded_from} after epoch {p.start_epoch}", file=sys.stderr)
    tracking_run_id = None
    if on_start is not None and w.is_main:
        tracking_run_id = on_start(
            state.get("mlflow_run_id") if state is not None else None, list(p.history), checkpoints.abandoned_run_id
        )

    train_images, val_images = place(train_images, r.device), place(val_images, r.device)
    train_y = train.labels.to(r.device)
    started = time.perf_counter()
    step_seconds, seen = 0.0, 0
    try:
        for epoch in range(p.start_epoch, cfg.train.epochs):
            if p.stopped_early:
                break
            loss_sum, acc_sum, seconds = _train_epoch(cfg.train, r, train_images, train_y, epoch)
            step_seconds, seen = step_seconds + seconds, seen + r.batch_size * r.steps_per_epoch
            record = _validate(cfg.train, r, p, train_images, val_images, val.labels, epoch, loss_sum, acc_sum)
            if not w.is_main:
                continue
            _print_epoch(record, cfg.train.epochs)
            if on_epoch is not None:
                on_epoch(record)
            checkpoints.save(checkpoint_state(r, p, run_id, epoch, tracking_run_id))
            if p.stopped_early:
                print(f"early stopping: no val-loss improvement for {p.bad_epochs} epochs", file=sys.stderr)
    finally:
        distributed.shutdown()

    seconds = time.perf_counter() - started
    net = r.model_without_ddp
    net.load_state_dict(p.best_state)
    net = net.to(memory_format=torch.contiguous_format).cpu().eval()
    if w.is_main:
        checkpoints.clear()
    rate = seen / step_seconds if step_seconds > 0 else 0.0
    return FitResult(
        model=net,
        spec=r.spec,
        history=p.history,
        best_epoch=p.best_epoch,
        stopped_early=p.stopped_early,
        device=str(r.device),
        bf16=r.bf16,
        seconds=seconds,
        images_per_second=rate,
        teachers_sha256=r.teachers_sha256,
    )


def _print_epoch(record: dict, epochs: int) -> None:
    print(
        f"epoch {record['epoch']}/{epochs}: train loss {record['train_loss']:.4f} acc {record['train_acc']:.4f} "
        f"| val loss {record['val_loss']:.4f} acc {record['val_acc']:.4f}",
        file=sys.stderr,
        flush=True,
    )


class _Silent:
    """The progress of processes other than 0 under DDP: nothing."""

    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int, desc: str, show: bool = True) -> Progress | _Silent:
    """Batches done in the epoch, with the rate and time left (process 0's only): a redrawn line on a
    terminal, and in logs (DVC, CI, `2> log`) a line every 30 s, so a long epoch is not silent for minutes."""
    return Progress(total, desc, unit="batches", every_s=30.0) if show else _Silent()
