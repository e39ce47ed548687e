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
import os
import sys
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from faceattr import distributed, pretrained
from faceattr.atomic import atomic_path
from faceattr.config import TrainConfig  # noqa: F401  (re-exported: what fit takes)
from faceattr.dataset import Split
from faceattr.device import autocast, select_device, set_threads, use_bf16
from faceattr.distill import mix_targets, soft_targets, teachers_digest
from faceattr.errors import FaceattrError
from faceattr.finetune import apply_freeze, backbone_parameters, describe, keep_frozen_norms
from faceattr.images import augment_batch, draw_augment, draw_mixup, normalize
from faceattr.inference import predict_logits
from faceattr.losses import make_loss
from faceattr.models import ModelSpec, build_model, load_pretrained, load_weights_file
from faceattr.pixels import Images, TensorImages, as_images, to_device
from faceattr.progress import Progress

CHECKPOINT_FORMAT = "faceattr-checkpoint/1"


@dataclass
class FitResult:
    model: nn.Module
    spec: ModelSpec
    history: list[dict]
    best_epoch: int
    stopped_early: bool
    device: str
    bf16: bool
    seconds: float              # the whole fit, validation and checkpoints included
    images_per_second: float    # training steps only (what the benchmark compares)
    teachers_sha256: str = ""   # over the teachers' files ("" without distillation)


def _make_optimizer(cfg: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    # No weight decay on biases and norm weights, as in torchvision's reference recipes. The head's groups
    # come first (param_groups[0]'s lr is the one logged); the backbone's learn at lr × backbone_lr_scale;
    # frozen weights are left out.
    backbone = {id(p) for p in backbone_parameters(model, cfg.arch, cfg.head)}
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
        return torch.optim.RMSprop(groups, lr=cfg.lr, momentum=cfg.momentum, alpha=0.9, eps=0.0316)
    return torch.optim.AdamW(groups, lr=cfg.lr)


def _make_schedule(cfg: TrainConfig, optimizer: torch.optim.Optimizer, steps_per_epoch: int):
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


def fingerprint(cfg: TrainConfig, attributes: list[str], train: Split, val: Split, teachers_sha256: str = "") -> str:
    """Identifies a run's inputs, so a checkpoint is only resumed by the run that wrote it.

    The process count is left out: a run interrupted under torchrun may resume in one process and back.
    Teachers count by their content (`teachers_sha256`), not only their paths.
    """
    settings = cfg.model_dump(exclude={"processes"})
    h = hashlib.sha256(json.dumps([settings, attributes], sort_keys=True, default=str).encode())
    h.update(teachers_sha256.encode())
    for split in (train, val):
        h.update(as_images(split.images).digest())
        h.update(split.labels.contiguous().numpy().tobytes())
    return h.hexdigest()


class Checkpoints:
    """`last.pt` (and the one before it, `prev.pt`) in a folder; a corrupt one falls back to the older."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.last = self.folder / "last.pt"
        self.prev = self.folder / "prev.pt"
        self.loaded_from: Path | None = None  # the file `load` resumed from
        self.abandoned_run_id: str | None = None  # the MLflow run of a checkpoint that was not resumed

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
            try:  # tensors and plain types only: a crafted checkpoint must not run code when resumed
                state = load_weights_file(io.BytesIO(payload), str(path))
            except FaceattrError as exc:
                warnings.warn(f"checkpoint does not load as plain tensors: {exc}; ignoring it", stacklevel=2)
                continue
            if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT \
                    or state.get("fingerprint") != expected_fingerprint:
                print(f"note: {path} belongs to other params or data; starting fresh", file=sys.stderr)
                if isinstance(state, dict) and isinstance(state.get("mlflow_run_id"), str):
                    self.abandoned_run_id = state["mlflow_run_id"]
                return None
            self.loaded_from = path
            return state
        return None

    def clear(self) -> None:
        for path in (self.last, self.prev):
            path.unlink(missing_ok=True)


LOCK_FILE = "train.lock"


def lock_checkpoints(folder: str | Path) -> int:
    """Hold the workspace's training lock (a flock on `folder`/train.lock); returns its file descriptor.

    Two trainers in one workspace would overwrite each other's checkpoints and outputs (e.g. a trainer
    left running after only `dvc` was killed, and the next `dvc repro`). The lock lasts as long as any
    process holding the descriptor lives (the launched workers inherit it) and ends with them, even
    on SIGKILL. A second trainer gets a one-line error naming the holder.
    """
    import fcntl

    path = Path(folder) / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 200).decode(errors="replace").strip() or "another process"
        os.close(fd)
        raise FaceattrError(f"{path}: another training is running in this workspace ({holder}); wait for it or stop "
                            f"it (kill the pid), then run again") from None
    os.ftruncate(fd, 0)
    os.write(fd, f"pid {os.getpid()}".encode())
    return fd


@torch.no_grad()
def recalibrate_batchnorm(module: nn.Module, images: Images, spec: ModelSpec, device: torch.device, bf16: bool,
                          memory_format: torch.memory_format, batch_size: int = 64, max_images: int = 1024) -> None:
    """Recompute BatchNorm running statistics for `module`'s weights from (up to) `max_images` training images.

    An exponential moving average of weights cannot use running statistics averaged the same way: when
    the weights move far within the average's horizon, the averaged statistics no longer match the
    averaged weights, and the mismatch compounds through the layers (seen on real CelebA: a constant
    output). So the averaged model's statistics are measured afresh, as SWA's `update_bn` does, on a fixed
    set of images, identical in every process and on every resume.
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


def _place(images: Images, device: torch.device, fraction: float = 0.5) -> Images:
    """GPU-resident data when it fits in `fraction` of the free GPU memory; otherwise (and on the CPU,
    where the memory-mapped cache already is the fastest source) batches are gathered from the host."""
    if device.type != "cuda":
        return images
    free, _ = torch.cuda.mem_get_info(device)
    needed = len(images) * 3 * images.size[0] * images.size[1]
    return to_device(images, device) if needed <= fraction * free else images


class _Batches:
    """An epoch's batches as uint8 tensors on the training device.

    From host memory to a GPU, the next batch is gathered into pinned memory on a helper thread while
    the current one trains, and copied without blocking; otherwise batches are gathered in place.
    """

    def __init__(self, images: Images, device: torch.device, index_batches: list[torch.Tensor]):
        self.images, self.device, self.index_batches = images, device, index_batches
        on_device = isinstance(images, TensorImages) and images.tensor.device.type == device.type
        self.prefetch = device.type == "cuda" and not on_device

    def _host(self, idx: torch.Tensor) -> torch.Tensor:
        return self.images.gather(idx).pin_memory()

    def __iter__(self):
        if not self.prefetch:
            for idx in self.index_batches:
                yield self.images.gather(idx).to(self.device)
            return
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(self._host, self.index_batches[0]) if self.index_batches else None
            for k in range(len(self.index_batches)):
                batch = pending.result()
                if k + 1 < len(self.index_batches):
                    pending = pool.submit(self._host, self.index_batches[k + 1])
                yield batch.to(self.device, non_blocking=True)


StartHook = Callable[[str | None, list[dict], str | None], str | None]


def fit(cfg: TrainConfig, attributes: list[str], train: Split, val: Split, checkpoint_dir: str | Path,
        on_epoch: Callable[[dict], None] | None = None, on_start: StartHook | None = None) -> FitResult:
    """Train a model; resumes from a matching checkpoint in `checkpoint_dir`, and removes it when done.

    `on_start(resumed_run_id, history, abandoned_run_id)` is called (process 0) once the checkpoint is
    read, before the first step: with the tracking-run id stored in the resumed checkpoint and the
    epochs it already holds (or None and []), and the run id of a checkpoint discarded as belonging to
    other params. It returns the run id to store in later checkpoints, so a run killed at any point is
    resumed into the same tracking run.

    Under torchrun every process calls this: each trains on its share of each global batch of
    `cfg.batch_size` images (the augmentation of the whole batch is drawn by every process, so the
    run follows the single-process one), all validate alike, and process 0 alone writes checkpoints.
    """
    train_images, val_images = as_images(train.images), as_images(val.images)
    if len(train_images) < 2:
        raise FaceattrError("the training split has fewer than 2 images; use a larger subset")
    if len(val_images) == 0:
        raise FaceattrError("the validation split is empty; check partition.fractions")
    w = distributed.world()
    device = select_device(cfg.device, w.local_rank)
    distributed.init(w, device)
    bf16 = use_bf16(device, cfg.precision)
    if device.type == "cpu":
        set_threads(cfg.threads, w.local_size)
    torch.use_deterministic_algorithms(device.type == "cpu", warn_only=True)
    soft, teachers_sha256 = None, ""
    if cfg.teachers:  # before seeding: loading a teacher draws (then overwrites) random initial weights
        teachers_sha256 = teachers_digest(cfg.teachers)
        soft = soft_targets(cfg.teachers, train_images, attributes, cfg.image_size, device, bf16).to(device)
    torch.manual_seed(cfg.seed)
    spec = ModelSpec(arch=cfg.arch, alpha=cfg.alpha, attributes=list(attributes), image_size=tuple(cfg.image_size),
                     head=cfg.head)
    model = build_model(cfg.arch, len(attributes), cfg.alpha, cfg.head)
    weights_file = pretrained.resolve(cfg.pretrained, cfg.arch, cfg.alpha)
    if weights_file:
        skipped = load_pretrained(model, weights_file)
        if w.is_main:
            print(f"started from {weights_file} (new: {', '.join(skipped) or 'nothing'})", file=sys.stderr)
    frozen_norms = apply_freeze(model, cfg.arch, cfg.head, cfg.freeze)
    if w.is_main and cfg.freeze is not None:
        print(f"model.freeze: {describe(model)}", file=sys.stderr)
    model = model.to(device)
    memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    optimizer = _make_optimizer(cfg, model)
    batch_size = min(cfg.batch_size, len(train_images))
    if batch_size % w.size:
        raise FaceattrError(f"train.batch_size: {batch_size} does not split evenly over {w.size} processes")
    steps_per_epoch = len(train_images) // batch_size  # the last partial batch is dropped (BatchNorm)
    scheduler = _make_schedule(cfg, optimizer, steps_per_epoch)
    generator = torch.Generator().manual_seed(cfg.seed)
    criterion = make_loss(cfg.loss, train.labels, cfg.focal_gamma).to(device)
    val_criterion = make_loss(cfg.loss, train.labels, cfg.focal_gamma)  # on the CPU, where val logits are
    ema = None
    if cfg.ema_decay:
        ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema_decay), use_buffers=True)
    net = model  # the plain module: what is saved, averaged and validated
    if w.distributed:
        model = DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)
    if cfg.compile:
        model = torch.compile(model)

    checkpoints = Checkpoints(checkpoint_dir)
    run_id = fingerprint(cfg, attributes, train, val, teachers_sha256)
    history: list[dict] = []
    best_state, best_loss, best_epoch, bad_epochs, start_epoch = None, math.inf, 0, 0, 0
    stopped_early = False
    state = checkpoints.load(run_id)
    if state is not None:
        net.load_state_dict(state["model"])
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
        if w.is_main:
            print(f"resuming from {checkpoints.loaded_from} after epoch {start_epoch}", file=sys.stderr)

    tracking_run_id = None
    if on_start is not None and w.is_main:
        tracking_run_id = on_start(state.get("mlflow_run_id") if state is not None else None, list(history),
                                   checkpoints.abandoned_run_id)

    train_images, val_images = _place(train_images, device), _place(val_images, device)
    train_y = train.labels.to(device)
    aug = cfg.augment.model_dump()
    smoothing = cfg.label_smoothing
    share = w.share(batch_size)
    started = time.perf_counter()
    step_seconds, seen = 0.0, 0
    try:
        for epoch in range(start_epoch, cfg.epochs):
            if stopped_early:
                break
            model.train()
            keep_frozen_norms(frozen_norms)
            order = torch.randperm(len(train_images), generator=generator)
            batches = [order[k * batch_size:(k + 1) * batch_size] for k in range(steps_per_epoch)]
            loss_sum, acc_sum = 0.0, 0.0
            progress = _progress(steps_per_epoch, f"epoch {epoch + 1}/{cfg.epochs}", w.is_main)
            epoch_started = time.perf_counter()
            mine = [b[share] for b in batches]
            for step, images in enumerate(_Batches(train_images, device, mine)):
                draw = draw_augment(batch_size, generator, **aug)[share]
                x = augment_batch(images, draw, spec.mean, spec.std, memory_format)
                idx = mine[step].to(device)
                y = train_y[idx]
                target = mix_targets(y, 0.5, smoothing)  # label smoothing: towards 1/2
                if soft is not None:
                    target = mix_targets(target, soft[idx], cfg.distill_weight)
                if cfg.mixup:  # after the other draws, so runs without mixup keep their random stream
                    lam, keys = draw_mixup(batch_size, generator, cfg.mixup)
                    pair = keys[share].argsort().to(device)
                    x = (x * lam + x[pair] * (1 - lam)).contiguous(memory_format=memory_format)
                    target = mix_targets(target, target[pair], 1 - lam)
                with autocast(device, bf16):
                    logits = model(x)
                loss = criterion(logits.float(), target)
                global_loss = distributed.mean(loss, w)
                if not torch.isfinite(global_loss):
                    raise FaceattrError(
                        f"training diverged: the loss is {global_loss.item()} at epoch {epoch + 1}, step {step + 1}; "
                        f"no model was written (lower train.lr or check the labels)"
                    )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
                if ema is not None:
                    ema.update_parameters(net)
                loss_sum += global_loss.item()
                acc_sum += _mean_accuracy(logits.detach().float(), y)
                seen += batch_size
                progress.update(1)
            progress.close()
            step_seconds += time.perf_counter() - epoch_started  # loss.item() above syncs the device

            distributed.broadcast_buffers(net, w)
            scored = ema.module if ema is not None else net
            if ema is not None:
                recalibrate_batchnorm(scored, train_images, spec, device, bf16, memory_format)
            val_logits = predict_logits(scored, val_images, spec, device, bf16=bf16, channels_last=cfg.channels_last)
            val_loss = float(val_criterion(val_logits, val.labels))
            record = {
                "epoch": epoch + 1,
                "train_loss": round(loss_sum / steps_per_epoch, 6),
                "train_acc": round(float(distributed.mean(torch.tensor(acc_sum, dtype=torch.float64, device=device), w))
                                   / steps_per_epoch, 6),
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
            if not w.is_main:
                continue
            print(f"epoch {record['epoch']}/{cfg.epochs}: train loss {record['train_loss']:.4f} acc "
                  f"{record['train_acc']:.4f} | val loss {record['val_loss']:.4f} acc {record['val_acc']:.4f}",
                  file=sys.stderr, flush=True)
            if on_epoch is not None:
                on_epoch(record)
            checkpoints.save({
                "format": CHECKPOINT_FORMAT, "fingerprint": run_id, "epoch": epoch,
                "model": net.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "generator": generator.get_state(),
                "ema": ema.state_dict() if ema is not None else None,
                "torch_rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state_all() if device.type == "cuda" else None,
                "history": history, "best_state": best_state, "best_loss": best_loss,
                "best_epoch": best_epoch, "bad_epochs": bad_epochs, "mlflow_run_id": tracking_run_id,
            })
            if stopped_early:
                print(f"early stopping: no val-loss improvement for {bad_epochs} epochs", file=sys.stderr)
    finally:
        distributed.shutdown()

    seconds = time.perf_counter() - started
    net.load_state_dict(best_state)
    net = net.to(memory_format=torch.contiguous_format).cpu().eval()
    if w.is_main:
        checkpoints.clear()
    return FitResult(model=net, spec=spec, history=history, best_epoch=best_epoch, stopped_early=stopped_early,
                     device=str(device), bf16=bf16, seconds=seconds,
                     images_per_second=seen / step_seconds if step_seconds > 0 else 0.0,
                     teachers_sha256=teachers_sha256)


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
