"""The value types of params.yaml's keys (faceattr.config.schema declares the keys): each a type, its bounds or
choices, and the words an error uses for what is allowed."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Optional, Union

from pydantic import AfterValidator, Field, StrictBool, StrictFloat, StrictInt, StrictStr

from faceattr.config.choices import DEVICES, FREEZE, SEED_MAX
from faceattr.config.errors import Allowed, Rejected
from faceattr.data.attributes import CELEBA_ATTRIBUTES


def whole(lo: int, hi: int) -> Any:
    """A whole number in [lo, hi]: every integer param is bounded, so none overflows where it is used."""
    return Annotated[StrictInt, Field(ge=lo, le=hi), Allowed(f"a whole number ≥ {lo} and ≤ {hi}")]


def real(lo: float, hi: float, lo_open: bool = False, hi_open: bool = False) -> Any:
    """A number within both bounds (so never NaN or ±infinity), kept as written: an int stays an int."""
    bounds = {"gt" if lo_open else "ge": lo, "lt" if hi_open else "le": hi}
    text = f"a number {'>' if lo_open else '≥'} {lo} and {'<' if hi_open else '≤'} {hi}"
    return Annotated[Union[StrictInt, StrictFloat], Field(**bounds), Allowed(text)]


def choice(names: tuple[str, ...]) -> Any:
    return Annotated[Literal[names], Allowed(f"one of {', '.join(names)}")]


def _ordered(pair: tuple[int, int]) -> tuple[int, int]:
    if pair[0] > pair[1]:
        raise ValueError("low > high")
    return pair


def _fractions(value: tuple[float, float, float]) -> tuple[float, float, float]:
    if abs(sum(value) - 1) >= 1e-6 or value[0] <= 0 or value[1] <= 0:
        raise ValueError("not fractions")
    return value


def _distinct(sizes: tuple) -> tuple:
    if len(set(map(str, sizes))) != len(sizes):
        raise Rejected("sizes listed once each")
    return sizes


def _attribute_names(value: str | tuple[str, ...]) -> str | tuple[str, ...]:
    if value == "all":
        return value
    unknown = [v for v in value if v not in CELEBA_ATTRIBUTES]
    if unknown:
        raise Rejected(f"CelebA attribute names: {' '.join(CELEBA_ATTRIBUTES)}", value=unknown, show=True)
    if len(set(value)) != len(value):
        raise Rejected("each attribute listed once")
    return value


Seed = whole(0, SEED_MAX)
Flag = Annotated[StrictBool, Allowed("true or false")]
FilePath = Annotated[StrictStr, Field(min_length=1), Allowed("a path")]
OptionalPath = Annotated[Optional[StrictStr], Allowed("a path or ''")]
Size = Union[whole(3, 100_000_000), Literal["all"]]
Sizes = Annotated[
    tuple[Size, ...],
    Field(min_length=1),
    AfterValidator(_distinct),
    Allowed("a non-empty list of subset sizes (whole numbers ≥ 3, or 'all')"),
]
Quality = Annotated[
    tuple[whole(1, 100), whole(1, 100)],
    AfterValidator(_ordered),
    Allowed("[low, high] JPEG qualities with 1 ≤ low ≤ high ≤ 100"),
]
Fractions = Annotated[
    tuple[real(0, 1), real(0, 1), real(0, 1)],
    AfterValidator(_fractions),
    Allowed("[train, val, test] fractions ≥ 0 summing to 1, with train and val > 0"),
]
ImageSize = Annotated[
    tuple[whole(16, 1024), whole(16, 1024)], Allowed("[height, width], each a whole number from 16 to 1024")
]
Attributes = Annotated[
    Union[Literal["all"], Annotated[tuple[StrictStr, ...], Field(min_length=1)]],
    AfterValidator(_attribute_names),
    Allowed("'all' or a non-empty list of CelebA attribute names"),
]
Alpha = Annotated[real(0, 4, lo_open=True), AfterValidator(float)]  # MobileNetV2's width multiplier
WIDTH_MULTIPLIED = ("mobilenet_v2",)  # the architectures alpha applies to
Freeze = Annotated[
    Union[Literal[FREEZE], Annotated[StrictInt, Field(ge=0, le=1000)]],
    Allowed("none, backbone, or the number of last backbone blocks to train (a whole number ≥ 0)"),
]
Device = Annotated[
    StrictStr, Field(pattern=rf"^({'|'.join(DEVICES)}|cuda:[0-9]+)$"), Allowed("auto, cpu, cuda, cuda:N or mps")
]
Teachers = Annotated[
    tuple[Annotated[StrictStr, Field(min_length=1)], ...],
    Allowed("a list of model file paths (empty: no distillation)"),
]


def width_multiplier_rule(arch: str, alpha: float, arch_key: str) -> None:
    """The rule between an architecture and alpha (params.yaml's model.arch and alpha, a model file's spec):
    only mobilenet_v2 has a width multiplier, so any other architecture takes alpha 1.0."""
    if arch not in WIDTH_MULTIPLIED and alpha != 1.0:
        raise Rejected(
            f"1.0 with {arch_key} {arch} (only {', '.join(WIDTH_MULTIPLIED)} has a width multiplier)", alpha, "alpha"
        )
