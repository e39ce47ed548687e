"""One schema for params.yaml, checked before any stage does work.

Every error names the key, the bad value and what is allowed. The `check_params` stage runs this
first in the pipeline, so a bad value stops `dvc repro` (and `dvc exp run -S …`) before any stage
removes or rewrites an output; every stage also checks again when run on its own.
"""

from __future__ import annotations

import math
import numbers
import reprlib
from typing import Any, Callable

from faceattr.attributes import CELEBA_ATTRIBUTES
from faceattr.errors import FaceattrError

Check = Callable[[str, Any], None]

AUGMENT_KEYS = ("hflip", "max_rotate_deg", "max_translate", "max_scale", "brightness", "contrast", "erase")


SEED_MAX = 2**32 - 1  # what every seeded generator here accepts (numpy, torch, Python's random)


class _ShortRepr(reprlib.Repr):
    """reprlib's bounded repr, which also describes a whole number too long for repr() (4300 digits) to print."""

    def repr_int(self, x: int, level: int) -> str:
        if x.bit_length() > 4096:
            return f"<a whole number of about {int(x.bit_length() * math.log10(2)) + 1} digits>"
        return super().repr_int(x, level)


_SHORT = _ShortRepr()
_SHORT.maxstring = _SHORT.maxother = _SHORT.maxlong = 60
_SHORT.maxlist = _SHORT.maxdict = _SHORT.maxtuple = 6
_SHORT.maxlevel = 3


def short(value: Any, limit: int = 80) -> str:
    """A value for an error message: cut, and never expanded in full (a YAML bomb's value is huge)."""
    text = _SHORT.repr(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _fail(key: str, value: Any, allowed: str) -> None:
    raise FaceattrError(f"params.yaml: {key} = {short(value)} is not allowed; expected {allowed}")


def _finite(value: numbers.Real) -> bool:
    """Not NaN or ±infinity; a whole number always is (math.isfinite overflows on one past float range)."""
    return isinstance(value, numbers.Integral) or math.isfinite(value)


def integer(lo: int = 0, hi: int = SEED_MAX) -> Check:
    """A whole number in [lo, hi]: every integer param is bounded, so none overflows where it is used."""
    def check(key: str, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < lo or value > hi:
            _fail(key, value, f"a whole number ≥ {lo} and ≤ {hi}")
    return check


def number(lo: float | None = None, hi: float | None = None, lo_open: bool = False, hi_open: bool = False) -> Check:
    """A finite real number within the bounds (NaN and ±infinity are never allowed)."""
    def check(key: str, value: Any) -> None:
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and _finite(value)
        if ok and lo is not None:
            ok = value > lo if lo_open else value >= lo
        if ok and hi is not None:
            ok = value < hi if hi_open else value <= hi
        if not ok:
            bounds = []
            if lo is not None:
                bounds.append(f"{'>' if lo_open else '≥'} {lo}")
            if hi is not None:
                bounds.append(f"{'<' if hi_open else '≤'} {hi}")
            _fail(key, value, "a number" + (f" {' and '.join(bounds)}" if bounds else ""))
    return check


def choice(*allowed: Any) -> Check:
    def check(key: str, value: Any) -> None:
        if value not in allowed:
            _fail(key, value, f"one of {', '.join(map(str, allowed))}")
    return check


def boolean(key: str, value: Any) -> None:
    if not isinstance(value, bool):
        _fail(key, value, "true or false")


def text(allow_empty: bool = False) -> Check:
    def check(key: str, value: Any) -> None:
        if value is None and allow_empty:
            return
        if not isinstance(value, str) or (not value and not allow_empty):
            _fail(key, value, "a path" + (" or ''" if allow_empty else ""))
    return check


def size_list(key: str, value: Any) -> None:
    if not isinstance(value, list) or not value:
        _fail(key, value, "a non-empty list of subset sizes (whole numbers ≥ 3, or 'all')")
    for v in value:
        if v != "all":
            integer(3, 100_000_000)(f"{key} item", v)
    if len(set(map(str, value))) != len(value):
        _fail(key, value, "sizes listed once each")


def quality_range(key: str, value: Any) -> None:
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) and 1 <= v <= 100 for v in value)
            and value[0] <= value[1]):
        _fail(key, value, "[low, high] JPEG qualities with 1 ≤ low ≤ high ≤ 100")


def fractions(key: str, value: Any) -> None:
    if not (isinstance(value, list) and len(value) == 3
            and all(isinstance(v, numbers.Real) and not isinstance(v, bool) and _finite(v) and 0 <= v <= 1 for v in value)
            and abs(sum(value) - 1) < 1e-6 and value[0] > 0 and value[1] > 0):
        _fail(key, value, "[train, val, test] fractions ≥ 0 summing to 1, with train and val > 0")


def image_size(key: str, value: Any) -> None:
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) and 16 <= v <= 1024 for v in value)):
        _fail(key, value, "[height, width], each a whole number from 16 to 1024")


def attributes(key: str, value: Any) -> None:
    if value == "all":
        return
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        _fail(key, value, "'all' or a non-empty list of CelebA attribute names")
    unknown = [v for v in value if v not in CELEBA_ATTRIBUTES]
    if unknown:
        _fail(key, unknown, f"CelebA attribute names: {' '.join(CELEBA_ATTRIBUTES)}")
    if len(set(value)) != len(value):
        _fail(key, value, "each attribute listed once")


def teachers(key: str, value: Any) -> None:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        _fail(key, value, "a list of model file paths (empty: no distillation)")


def device(key: str, value: Any) -> None:
    if not isinstance(value, str) or not (value in ("auto", "cpu", "cuda", "mps") or (
            value.startswith("cuda:") and value[5:].isdigit())):
        _fail(key, value, "auto, cpu, cuda, cuda:N or mps")


def augment(key: str, value: Any) -> None:
    if not isinstance(value, dict):
        _fail(key, value, f"a mapping with keys among {', '.join(AUGMENT_KEYS)}")
    for k, v in value.items():
        if k not in AUGMENT_KEYS:
            _fail(f"{key}.{k}", v, f"a key among {', '.join(AUGMENT_KEYS)}")
        if k == "hflip":
            boolean(f"{key}.{k}", v)
        elif k == "max_rotate_deg":
            number(0, 45)(f"{key}.{k}", v)
        elif k == "erase":
            number(0, 1)(f"{key}.{k}", v)
        else:
            number(0, 0.5)(f"{key}.{k}", v)


def _threshold_objectives() -> tuple[str, ...]:
    from faceattr.metrics import THRESHOLD_OBJECTIVES

    return THRESHOLD_OBJECTIVES


def _freeze(key: str, value: Any) -> None:
    if value in ("none", "backbone"):
        return
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 1000:
        _fail(key, value, "none, backbone, or the number of last backbone blocks to train (a whole number ≥ 0)")


def _architectures() -> tuple[str, ...]:
    from faceattr.models import ARCHITECTURES

    return ARCHITECTURES


SCHEMA: dict[str, Check] = {
    "alpha": number(0, 4, lo_open=True),
    "seed": integer(0, SEED_MAX),
    "data.dir": text(),
    "data.images": text(),
    "data.attributes": text(),
    "data.eval_partition": text(allow_empty=True),
    "data.identities": text(allow_empty=True),
    "synth.count": integer(3, 1_000_000),
    "synth.seed": integer(0, SEED_MAX),
    "synth.quality": quality_range,
    "unzip.max_uncompressed_mb": number(0, 16 * 2**20, lo_open=True),  # up to 16 TiB
    "unzip.on_bad_image": choice("skip", "fail"),
    "labels.attributes": attributes,
    "partition.sizes": size_list,
    "partition.strategy": choice("first", "random", "identity", "official", "file"),
    "partition.fractions": fractions,
    "partition.seed": integer(0, SEED_MAX),
    "partition.files": text(allow_empty=True),
    "model.arch": lambda k, v: choice(*_architectures())(k, v),
    "model.pretrained": text(allow_empty=True),
    "model.head": choice("linear", "mlp", "attention"),
    "model.freeze": lambda k, v: _freeze(k, v),
    "train.image_size": image_size,
    "train.epochs": integer(1, 10_000),
    "train.batch_size": integer(2, 65_536),
    "train.optimizer": choice("adamw", "sgd", "rmsprop"),
    "train.lr": number(0, 10, lo_open=True),
    "train.weight_decay": number(0, 1),
    "train.warmup_epochs": number(0, 10_000),
    "train.schedule": choice("cosine", "constant"),
    "train.label_smoothing": number(0, 1, hi_open=True),
    "train.loss": choice("bce", "weighted_bce", "focal"),
    "train.focal_gamma": number(0, 10),
    "train.ema_decay": number(0, 1, hi_open=True),
    "train.teachers": teachers,
    "train.distill_weight": number(0, 1),
    "train.mixup": number(0, 100),
    "train.augment": augment,
    "train.early_stopping_patience": integer(0, 10_000),
    "train.device": device,
    "train.precision": choice("auto", "bf16", "fp32"),
    "train.channels_last": boolean,
    "train.threads": integer(0, 1024),
    "train.compile": boolean,
    "train.processes": integer(1, 1024),
    "train.backbone_lr_scale": number(0, 1, lo_open=True),
    "evaluate.threshold": number(0, 1, lo_open=True, hi_open=True),
    "evaluate.tune_thresholds": boolean,
    "evaluate.threshold_objective": lambda k, v: choice(*_threshold_objectives())(k, v),
    "evaluate.tta_hflip": boolean,
    "explain.attributes": attributes,
    "explain.images_per_row": integer(1, 50),
    "explain.layer": text(),
}
OPTIONAL = {"train.momentum": number(0, 1)}


def _lookup(params: dict, key: str) -> tuple[bool, Any]:
    node: Any = params
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def validate(params: dict) -> dict:
    """Check every key of params.yaml; unknown keys in a group are errors too (they are usually typos)."""
    for key, check in {**SCHEMA, **OPTIONAL}.items():
        present, value = _lookup(params, key)
        if not present:
            if key in OPTIONAL:
                continue
            raise FaceattrError(f"params.yaml: missing key {key!r}")
        check(key, value)
    known_groups = {k.split(".")[0] for k in {**SCHEMA, **OPTIONAL}}
    for group, body in params.items():
        if group not in known_groups and group != "subset":
            raise FaceattrError(f"params.yaml: unknown key {short(group)}")
        if isinstance(body, dict):
            for sub in body:
                if f"{group}.{sub}" not in SCHEMA and f"{group}.{sub}" not in OPTIONAL:
                    allowed = sorted(k.split(".", 1)[1] for k in {**SCHEMA, **OPTIONAL} if k.startswith(group + "."))
                    raise FaceattrError(f"params.yaml: unknown key {group}.{short(str(sub)).strip(chr(39))}; allowed in {group}: "
                                        f"{', '.join(allowed)}")
    sizes = [str(s) for s in params["partition"]["sizes"]]
    if "subset" not in params:
        raise FaceattrError("params.yaml: missing key 'subset'")
    subset = params["subset"]
    if not isinstance(subset, (int, str)) or isinstance(subset, bool) or (
            isinstance(subset, int) and subset.bit_length() > 64) or str(subset) not in sizes:
        _fail("subset", params["subset"], f"one of the generated partitions (partition.sizes): {', '.join(sizes)}")
    if params["model"]["arch"] != "mobilenet_v2" and params["alpha"] != 1.0:
        _fail("alpha", params["alpha"], f"1.0 with model.arch {params['model']['arch']} (only mobilenet_v2 has a width multiplier)")
    model = params["model"]
    if model["pretrained"] == "imagenet":
        from faceattr.pretrained import OFFLINE_IMAGENET, available

        if (model["arch"], float(params["alpha"])) not in OFFLINE_IMAGENET:
            _fail("model.pretrained", "imagenet", f"a weights file's path with model.arch {model['arch']} at alpha "
                  f"{params['alpha']}: ImageNet weights exist offline only for {available()}")
    if isinstance(model["freeze"], int):
        from faceattr.layers import layer_names

        blocks = layer_names(model["arch"])
        if model["freeze"] > len(blocks):
            _fail("model.freeze", model["freeze"], f"at most {len(blocks)}, the number of {model['arch']}'s blocks "
                  f"({blocks[0]} … {blocks[-1]})")
    trained, explained = params["labels"]["attributes"], params["explain"]["attributes"]
    if trained != "all" and explained != "all" and set(explained) - set(trained):
        _fail("explain.attributes", sorted(set(explained) - set(trained)), "attributes the model is trained on "
              f"(labels.attributes), or 'all'")
    layer = params["explain"]["layer"]
    if layer != "last" and not (layer.startswith("stride") and layer[6:] in ("2", "4", "8", "16", "32")):
        from faceattr.layers import layer_names

        if layer not in layer_names(params["model"]["arch"]):
            _fail("explain.layer", layer, f"'last', 'stride2|4|8|16|32' or a block of {params['model']['arch']}: "
                                          f"{', '.join(layer_names(params['model']['arch']))}")
    if params["partition"]["strategy"] == "file" and "{size}" not in (params["partition"]["files"] or ""):
        _fail("partition.files", params["partition"]["files"], "a path pattern containing {size} (strategy file)")
    return params
