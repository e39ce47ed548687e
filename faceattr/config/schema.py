"""The typed model of params.yaml, read once by every stage and passed down as typed objects.

Every key has one declaration here: its type, its bounds or choices, and what an error says is allowed.
Nothing has a default: params.yaml is the single source of every value, so a missing key is an error, and
so is an unknown one (`extra="forbid"`: a typo such as `train.learning_rate` is caught, not ignored). The
rules that tie keys together are checked once, in `Params._rules`. The `check_params` stage validates
first in the pipeline, so a bad value stops `dvc repro` (and `dvc exp run -S …`) before any stage removes
or rewrites an output; every stage validates again when it loads the config.

Every error is one line naming the key, the bad value and what is allowed. This module is light (pydantic,
no torch), so checking params costs no training stack.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError, model_validator

from faceattr.config.choices import (
    ARCHITECTURES,
    EXPLAIN_STRIDES,
    HEADS,
    LOSSES,
    ON_BAD_IMAGE,
    OPTIMIZERS,
    PRECISIONS,
    SCHEDULES,
    STRATEGIES,
    THRESHOLD_OBJECTIVES,
)
from faceattr.config.errors import Allowed, Rejected, one_line
from faceattr.config.params_file import PARAMS_FILE, load_params
from faceattr.config.value_types import (
    Alpha,
    Attributes,
    Device,
    FilePath,
    Flag,
    Fractions,
    Freeze,
    ImageSize,
    OptionalPath,
    Quality,
    Seed,
    Size,
    Sizes,
    Teachers,
    choice,
    real,
    whole,
    width_multiplier_rule,
)
from faceattr.errors import FaceattrError
from faceattr.model.layers import layer_names
from faceattr.model.pretrained import OFFLINE_IMAGENET, available

# --- the groups of params.yaml ----------------------------------------------------------------------------


class Group(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Data(Group):
    dir: FilePath
    images: FilePath
    attributes: FilePath
    eval_partition: OptionalPath
    identities: OptionalPath

    def file(self, key: str) -> Path | None:
        """The dataset file `data.<key>` names, under `data.dir`; None when the param is empty.

        A named file that does not exist is an error naming both params (the config cannot know the disk).
        """
        name = getattr(self, key)
        if not name:
            return None
        path = Path(self.dir) / name
        if not path.exists():
            raise FaceattrError(
                f"params.yaml: data.{key} = {name!r} does not exist under data.dir = {self.dir!r} (looked for {path})"
            )
        return path


class Synth(Group):
    count: whole(3, 1_000_000)
    quality: Quality
    seed: Seed


class Unzip(Group):
    max_uncompressed_mb: real(0, 16 * 2**20, lo_open=True)  # up to 16 TiB
    on_bad_image: choice(ON_BAD_IMAGE)


class Labels(Group):
    attributes: Attributes


class Partition(Group):
    sizes: Sizes
    strategy: choice(STRATEGIES)
    fractions: Fractions
    seed: Seed
    files: OptionalPath


class Model(Group):
    arch: choice(ARCHITECTURES)
    pretrained: OptionalPath
    head: choice(HEADS)
    freeze: Freeze

    @property
    def weights(self) -> str:
        """`pretrained` as `faceattr.model.pretrained.resolve` takes it: '' for none (params.yaml may give None)."""
        return self.pretrained or ""

    @property
    def freeze_blocks(self) -> int | None:
        """`freeze` as the number of last backbone blocks that train: None for all, 0 for none (`parse_freeze`)."""
        return parse_freeze(self.freeze)


class Augment(Group):
    hflip: Flag
    max_rotate_deg: real(0, 45)
    max_translate: real(0, 0.5)  # fraction of the image size
    max_scale: real(0, 0.5)
    brightness: real(0, 0.5)
    contrast: real(0, 0.5)
    erase: real(0, 1)


class Train(Group):
    image_size: ImageSize
    epochs: whole(1, 10_000)
    batch_size: whole(2, 65_536)
    optimizer: choice(OPTIMIZERS)
    momentum: real(0, 1)
    lr: real(0, 10, lo_open=True)
    weight_decay: real(0, 1)
    warmup_epochs: real(0, 10_000)
    schedule: choice(SCHEDULES)
    label_smoothing: real(0, 1, hi_open=True)
    loss: choice(LOSSES)
    focal_gamma: real(0, 10)
    ema_decay: real(0, 1, hi_open=True)
    teachers: Teachers
    distill_weight: real(0, 1)
    mixup: real(0, 100)
    augment: Augment
    early_stopping_patience: whole(0, 10_000)
    device: Device
    precision: choice(PRECISIONS)
    channels_last: Flag
    threads: whole(0, 1024)
    compile: Flag
    processes: whole(1, 1024)
    backbone_lr_scale: real(0, 1, lo_open=True)


class Evaluate(Group):
    threshold: real(0, 1, lo_open=True, hi_open=True)
    tune_thresholds: Flag
    threshold_objective: choice(THRESHOLD_OBJECTIVES)
    tta_hflip: Flag


class Explain(Group):
    attributes: Attributes
    images_per_row: whole(1, 50)
    layer: Annotated[StrictStr, Field(min_length=1), Allowed("'last', 'stride2|4|8|16|32' or a block's name")]


class Params(Group):
    """The whole of params.yaml."""

    alpha: Alpha
    subset: Annotated[Size, Allowed("one of the generated partitions (partition.sizes)")]
    seed: Seed
    data: Data
    synth: Synth
    unzip: Unzip
    labels: Labels
    partition: Partition
    model: Model
    train: Train
    evaluate: Evaluate
    explain: Explain

    @model_validator(mode="after")
    def _rules(self) -> Params:
        """The rules across keys (each key's own are in its type)."""
        sizes, model, explain = [str(s) for s in self.partition.sizes], self.model, self.explain
        if str(self.subset) not in sizes:
            raise Rejected(
                f"one of the generated partitions (partition.sizes): {', '.join(sizes)}", self.subset, "subset"
            )
        width_multiplier_rule(model.arch, self.alpha, "model.arch")
        if model.pretrained == "imagenet" and (model.arch, self.alpha) not in OFFLINE_IMAGENET:
            raise Rejected(
                f"a weights file's path with model.arch {model.arch} at alpha {self.alpha}: ImageNet "
                f"weights exist offline only for {available()}",
                "imagenet",
                "model.pretrained",
            )
        blocks = layer_names(model.arch)
        if isinstance(model.freeze, int) and model.freeze > len(blocks):
            raise Rejected(
                f"at most {len(blocks)}, the number of {model.arch}'s blocks ({blocks[0]} … {blocks[-1]})",
                model.freeze,
                "model.freeze",
            )
        trained = self.labels.attributes
        if trained != "all" and explain.attributes != "all" and set(explain.attributes) - set(trained):
            raise Rejected(
                "attributes the model is trained on (labels.attributes), or 'all'",
                sorted(set(explain.attributes) - set(trained)),
                "explain.attributes",
            )
        strides = {f"stride{s}" for s in EXPLAIN_STRIDES}
        if explain.layer != "last" and explain.layer not in strides and explain.layer not in blocks:
            raise Rejected(
                f"'last', 'stride2|4|8|16|32' or a block of {model.arch}: {', '.join(blocks)}",
                explain.layer,
                "explain.layer",
            )
        if self.partition.strategy == "file" and "{size}" not in (self.partition.files or ""):
            raise Rejected("a path pattern containing {size} (strategy file)", self.partition.files, "partition.files")
        return self

    def training(self) -> TrainConfig:
        """What `fit` takes: the train group, the model group, alpha and seed, each as it is here."""
        return TrainConfig(train=self.train, model=self.model, alpha=self.alpha, seed=self.seed)

    def as_dict(self) -> dict[str, Any]:
        """The values as plain YAML types (lists, not tuples), e.g. to log them."""
        return self.model_dump(mode="json")


def parse_freeze(value: str | int) -> int | None:
    """`model.freeze` (as the config allows it) as the number of trainable backbone blocks: None for all
    (`none`), 0 for `backbone`."""
    return None if value == "none" else 0 if value == "backbone" else value


# --- a training run ---------------------------------------------------------------------------------------


class TrainConfig(Group):
    """Every knob of a training run, by params.yaml's groups: `train` (the loop's), `model` (the model
    builder's), and the top-level alpha and seed.

    `Params.training()` builds it from params.yaml; code that builds one (tests, benchmarks) starts from a
    params.yaml's too, e.g. `load_config("params.yaml").training()` with some keys changed. Every key is
    required, so a key left out is an error, one line like params.yaml's naming the key (`train.epochs`,
    `model.arch`), as is a bad value.
    """

    train: Train
    model: Model
    alpha: Alpha
    seed: Seed

    def __init__(self, **values: Any):
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise one_line(exc, values, TrainConfig, "", lambda p: p) from None

    @model_validator(mode="after")
    def _rules(self) -> TrainConfig:
        width_multiplier_rule(self.model.arch, self.alpha, "model.arch")
        return self

    def with_changes(self, **changes: Any) -> TrainConfig:
        """A copy with `changes`, checked as params.yaml is: keys of the train or model group, or alpha or seed,
        each put in the group that declares it (`augment`'s keys merged into the augment group). For code that
        varies a training (tests, benchmarks); a key no group declares is an unknown-key error."""
        values = self.model_dump()
        changes = dict(changes)
        values["train"]["augment"].update(changes.pop("augment", {}))
        for key, value in changes.items():
            group = next((g for g in ("train", "model") if key in values[g]), None)
            (values[group] if group else values)[key] = value
        return TrainConfig(**values)


# --- reading and checking ---------------------------------------------------------------------------------


def load_config(path: str | Path = PARAMS_FILE) -> Params:
    """Read params.yaml and check it: the typed config every stage works from."""
    return validate(load_params(path, check=False))


def validate(params: Any) -> Params:
    """Check a params mapping against the model; every problem is one line naming the key."""
    try:
        return Params.model_validate(params)
    except ValidationError as exc:
        raise one_line(exc, params, Params, "params.yaml: ", lambda p: p) from None
