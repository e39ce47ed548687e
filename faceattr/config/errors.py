"""One-line errors for the typed config (faceattr.config.schema): the key, its value cut short, and what is allowed.

Types declare what they allow with `Allowed` metadata; validators raise `Rejected`; `one_line` turns
pydantic's ValidationError into the FaceattrError the user sees.
"""

from __future__ import annotations

import math
import reprlib
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from pydantic import BaseModel, ValidationError

from faceattr.errors import FaceattrError


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
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class Allowed:
    """Annotation metadata: what an error message says a key allows."""

    text: str


class Rejected(ValueError):
    """Raised by a validator: `allowed` is what the message offers; `value` (and `key`, for a rule across
    keys) override the rejected field's own."""

    def __init__(self, allowed: str, value: Any = None, key: str | None = None, show: bool = False):
        super().__init__(allowed)
        self.allowed, self.value, self.key, self.show = allowed, value, key, show or key is not None


def _walk(root: type[BaseModel], loc: tuple) -> tuple[list[str], Any, type[BaseModel] | None]:
    """The field names `loc` starts with, the last one's FieldInfo, and the group model it leads into."""
    model: type[BaseModel] | None = root
    parts, info = [], None
    for part in loc:
        if model is None or not isinstance(part, str) or part not in model.model_fields:
            break
        parts.append(part)
        info = model.model_fields[part]
        group = info.annotation
        model = group if isinstance(group, type) and issubclass(group, BaseModel) else None
    return parts, info, model


def _lookup(values: Any, parts: list[str], fallback: Any) -> Any:
    for part in parts:
        if not isinstance(values, Mapping) or part not in values:
            return fallback
        values = values[part]
    return values


def one_line(
    exc: ValidationError, values: Any, root: type[BaseModel], where: str, name: Callable[[str], str]
) -> FaceattrError:
    """pydantic's first error as one line: the key, its value (cut short) and what is allowed. What is
    written comes first: an unknown key (a typo leaves the intended key missing too), then a bad value,
    then a missing key."""

    def kind(e: Mapping) -> str:  # a list's missing item is a bad value, not a missing key
        return "value" if e["type"] == "missing" and e["loc"] and not isinstance(e["loc"][-1], str) else e["type"]

    rank = {"extra_forbidden": 0, "missing": 2}
    error = min(exc.errors(include_url=False), key=lambda e: rank.get(kind(e), 1))
    parts, info, group = _walk(root, error["loc"])
    key = ".".join([name(parts[0]), *parts[1:]]) if parts else ""
    if kind(error) == "missing":
        return FaceattrError(f"{where}missing key {key!r}")
    if error["type"] == "extra_forbidden":
        unknown = short(str(error["loc"][len(parts)])).strip("'")
        fields = sorted((group or root).model_fields)
        if not parts:
            return FaceattrError(f"{where}unknown key {unknown}; allowed: {', '.join(fields)}")
        return FaceattrError(f"{where}unknown key {key}.{unknown}; allowed in {key}: {', '.join(fields)}")
    if error["type"] == "model_type" and not parts:
        return FaceattrError(f"{where}expected a mapping of keys at the top level")
    value = _lookup(values, parts, error["input"])
    rejected = (error.get("ctx") or {}).get("error")
    if isinstance(rejected, Rejected):
        key = rejected.key or key
        value = rejected.value if rejected.show else value
        allowed = rejected.allowed
    elif group is not None:
        allowed = f"a mapping with the keys {', '.join(group.model_fields)}"
    else:
        allowed = next((m.text for m in (info.metadata if info else []) if isinstance(m, Allowed)), error["msg"])
    return FaceattrError(f"{where}{key} = {short(value)} is not allowed; expected {allowed}")
