"""A training run's machinery (`Run`, set up once by `prepare`), its epochs so far (`Epochs`), and what a
checkpoint holds of both (`TrainingState`, with `state_dict()`/`load_state_dict()` from one table).

faceattr.train.loop's loop reads and updates these; faceattr.train.checkpoints writes and reads the files.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable, ClassVar

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from faceattr.config.schema import Train, TrainConfig
from faceattr.data.pixels import Images
from faceattr.device import select_device, set_threads, use_bf16
from faceattr.errors import FaceattrError
from faceattr.model import pretrained
from faceattr.model.finetune import apply_freeze, backbone_parameters, describe
from faceattr.model.model_file import ModelSpec, build_model, load_pretrained
from faceattr.train import distributed
from faceattr.train.checkpoints import CHECKPOINT_FORMAT
from faceattr.train.distill import soft_targets, teachers_digest
from faceattr.train.losses import make_loss
from faceattr.train.optim import make_optimizer, make_schedule


@dataclass
class Run:
    """A training run's machinery, set up once (`prepare`): the model, its optimiser and the rest."""

    world: distributed.World
    device: torch.device
    bf16: bool
    spec: ModelSpec
    model_without_ddp: nn.Module  # the plain module: what is saved, averaged and validated
    model: nn.Module  # what trains: model_without_ddp, under DDP and torch.compile when asked
    frozen_norms: list[nn.Module]
    memory_format: torch.memory_format
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    generator: torch.Generator
    criterion: nn.Module
    val_criterion: nn.Module
    ema: AveragedModel | None
    batch_size: int
    steps_per_epoch: int
    soft: torch.Tensor | None  # the teachers' targets (distillation)
    teachers_sha256: str


@dataclass
class Epochs:
    """What a checkpoint holds besides the machinery's state: the epochs so far and the best of them."""

    SAVED: ClassVar[tuple[str, ...]] = ("history", "best_state", "best_loss", "best_epoch", "bad_epochs")

    history: list[dict] = field(default_factory=list)
    best_state: dict | None = None
    best_loss: float = math.inf
    best_epoch: int = 0
    bad_epochs: int = 0
    start_epoch: int = 0
    stopped_early: bool = False


def prepare(cfg: TrainConfig, attributes: list[str], train_images: Images, train_labels: torch.Tensor) -> Run:
    train_cfg, model_cfg = cfg.train, cfg.model  # the loop's group and the model builder's
    w = distributed.world()
    device = select_device(train_cfg.device, w.local_rank)
    distributed.init(w, device)
    bf16 = use_bf16(device, train_cfg.precision)
    if device.type == "cpu":
        set_threads(train_cfg.threads, w.local_size)
    torch.use_deterministic_algorithms(device.type == "cpu", warn_only=True)
    soft, teachers_sha256 = None, ""
    if train_cfg.teachers:  # before seeding: loading a teacher draws (then overwrites) random initial weights
        teachers_sha256 = teachers_digest(train_cfg.teachers)
        soft = soft_targets(train_cfg.teachers, train_images, attributes, train_cfg.image_size, device, bf16).to(device)
    torch.manual_seed(cfg.seed)
    spec = ModelSpec(
        arch=model_cfg.arch,
        alpha=cfg.alpha,
        attributes=list(attributes),
        image_size=tuple(train_cfg.image_size),
        head=model_cfg.head,
    )
    model = build_model(model_cfg.arch, len(attributes), cfg.alpha, model_cfg.head)
    weights_file = pretrained.resolve(model_cfg.weights, model_cfg.arch, cfg.alpha)
    if weights_file:
        skipped = load_pretrained(model, weights_file)
        if w.is_main:
            unused = ", ".join(skipped) or "none"  # the file's own classifier: the head starts from random weights
            print(f"started from {weights_file} (its tensors not used: {unused})", file=sys.stderr)
    frozen_norms = apply_freeze(model, model_cfg.arch, model_cfg.head, model_cfg.freeze_blocks)
    if w.is_main and model_cfg.freeze_blocks is not None:
        print(f"model.freeze: {describe(model)}", file=sys.stderr)
    model = model.to(device)
    memory_format = torch.channels_last if train_cfg.channels_last else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    optimizer = make_optimizer(train_cfg, model, backbone_parameters(model, model_cfg.arch, model_cfg.head))
    batch_size = min(train_cfg.batch_size, len(train_images))
    if batch_size % w.size:
        raise FaceattrError(f"train.batch_size: {batch_size} does not split evenly over {w.size} processes")
    steps_per_epoch = len(train_images) // batch_size  # the last partial batch is dropped (BatchNorm)
    scheduler = make_schedule(train_cfg, optimizer, steps_per_epoch)
    generator = torch.Generator().manual_seed(cfg.seed)
    criterion = make_loss(train_cfg.loss, train_labels, train_cfg.focal_gamma).to(device)
    val_criterion = make_loss(train_cfg.loss, train_labels, train_cfg.focal_gamma)  # on the CPU, where val logits are
    ema = None
    if train_cfg.ema_decay:
        ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(train_cfg.ema_decay), use_buffers=True)
    model_without_ddp = model
    if w.distributed:
        model = DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)
    if train_cfg.compile:
        model = torch.compile(model)
    return Run(
        world=w,
        device=device,
        bf16=bf16,
        spec=spec,
        model_without_ddp=model_without_ddp,
        model=model,
        frozen_norms=frozen_norms,
        memory_format=memory_format,
        optimizer=optimizer,
        scheduler=scheduler,
        generator=generator,
        criterion=criterion,
        val_criterion=val_criterion,
        ema=ema,
        batch_size=batch_size,
        steps_per_epoch=steps_per_epoch,
        soft=soft,
        teachers_sha256=teachers_sha256,
    )


class TrainingState:
    """Everything a checkpoint holds of a run: weights, optimiser, schedule, EMA, random streams, the epochs.

    Like torch's own objects it has `state_dict()` and `load_state_dict()`, both read from one table of
    (name, read, write), so what is saved and what is restored cannot drift apart.
    """

    def __init__(self, run: Run, progress: Epochs):
        self.run, self.progress = run, progress

    def _items(self) -> dict[str, tuple[Callable[[], Any], Callable[[Any], Any]]]:
        r, p = self.run, self.progress
        ema, cuda = r.ema, r.device.type == "cuda"
        items = {
            "model": (r.model_without_ddp.state_dict, r.model_without_ddp.load_state_dict),
            "optimizer": (r.optimizer.state_dict, r.optimizer.load_state_dict),
            "scheduler": (r.scheduler.state_dict, r.scheduler.load_state_dict),
            "ema": ((ema.state_dict, ema.load_state_dict) if ema is not None else (lambda: None, lambda _: None)),
            "generator": (r.generator.get_state, r.generator.set_state),
            "torch_rng": (torch.get_rng_state, torch.set_rng_state),
            "cuda_rng": (
                (
                    torch.cuda.get_rng_state_all,  # (a CPU run's checkpoint resumed on a GPU holds None)
                    lambda s: torch.cuda.set_rng_state_all(s) if s is not None else None,
                )
                if cuda
                else (lambda: None, lambda _: None)
            ),
        }
        items.update({name: (partial(getattr, p, name), partial(setattr, p, name)) for name in Epochs.SAVED})
        return items

    def state_dict(self) -> dict:
        return {name: read() for name, (read, _) in self._items().items()}

    def load_state_dict(self, state: dict) -> None:
        for name, (_, write) in self._items().items():
            write(state[name])


def restore(cfg: Train, r: Run, saved: dict | None) -> Epochs:
    """The run's epochs so far: none, or a checkpoint's (its state loaded into the run)."""
    p = Epochs()
    if saved is not None:
        TrainingState(r, p).load_state_dict(saved)
        p.start_epoch = saved["epoch"] + 1
        p.stopped_early = bool(cfg.early_stopping_patience and p.bad_epochs >= cfg.early_stopping_patience)
    return p


def checkpoint_state(r: Run, p: Epochs, fingerprint_: str, epoch: int, tracking_run_id: str | None) -> dict:
    return {
        "format": CHECKPOINT_FORMAT,
        "fingerprint": fingerprint_,
        "epoch": epoch,
        "mlflow_run_id": tracking_run_id,
        **TrainingState(r, p).state_dict(),
    }
