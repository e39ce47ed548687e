"""Attribute files in the three formats people have, parsed into one clean 0/1 table.

Formats: CelebA's official `list_attr_celeba.txt` (count line, header, -1/1), Kaggle's
`list_attr_celeba.csv` (`image_id` column, -1/1), and the published MobileNetV2 project's
`list_attr.txt` (`Filename` header, 0/1). Bad rows are reported by line number and dropped,
so one broken line never sinks a 200,000-row file; duplicate ids are an error because no
row can be trusted over the other.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Collection, Sequence

import numpy as np
import pandas as pd

from faceattr.data.attributes import CELEBA_ATTRIBUTES, select_attributes
from faceattr.errors import FaceattrError

MAX_LISTED_PROBLEMS = 100
_VALUES = {"1": 1, "-1": 0, "0": 0, "+1": 1}


@dataclass
class AttributeTable:
    """Image ids (file names such as `000001.jpg`), attribute names, and a 0/1 uint8 matrix."""

    ids: list[str]
    names: list[str]
    values: np.ndarray

    def to_frame(self, attributes: Sequence[str] | None = None) -> pd.DataFrame:
        names = list(attributes) if attributes is not None else self.names
        cols = [self.names.index(n) for n in names]
        frame = pd.DataFrame(self.values[:, cols], columns=names)
        frame.insert(0, "image_id", self.ids)
        return frame


@dataclass
class ParseReport:
    """What parsing found: the detected format, the declared count and every dropped row."""

    source: str
    format: str
    declared_count: int | None = None
    rows_read: int = 0
    bad_rows: list[dict] = field(default_factory=list)

    @property
    def count_mismatch(self) -> bool:
        return self.declared_count is not None and self.declared_count != self.rows_read


def _split(line: str, sep: str | None) -> list[str]:
    return [f.strip() for f in line.split(sep)] if sep else line.split()


MAX_COUNT_DIGITS = 12  # CelebA's count line says 202599; no attribute file holds a trillion rows


def parse_attribute_file(path: str | Path, warn: bool = True) -> tuple[AttributeTable, ParseReport]:
    """Parse any of the three formats; rows with the wrong field count or values are dropped and reported.

    With `warn` (every caller: the clean_labels stage and `faceattr evaluate`), a count line that disagrees
    and the dropped rows (the first 10 by line, then how many more) are warnings on stderr. A file with no
    usable row at all is an error, as is a count line that is not a row count.
    """
    path = Path(path)
    if not path.is_file():
        raise FaceattrError(f"{path}: attribute file not found")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FaceattrError(f"{path}: not a text file ({exc})") from None
    lines = text.splitlines()
    numbered = [(i + 1, ln) for i, ln in enumerate(lines) if ln.strip()]
    if not numbered:
        raise FaceattrError(f"{path}: the file is empty")

    declared: int | None = None
    first_no, first = numbered[0]
    if first.strip().isdigit():  # also true of '²' and other Unicode digits, which int() refuses
        count = first.strip()
        if not (count.isascii() and len(count) <= MAX_COUNT_DIGITS):
            shown = count if len(count) <= 20 else f"{count[:12]}… ({len(count):,} characters)"
            raise FaceattrError(
                f"{path}, line {first_no}: the count line {shown!r} is not a row count "
                f"(expected at most {MAX_COUNT_DIGITS} digits 0-9)"
            )
        declared = int(count)
        numbered = numbered[1:]
        if not numbered:
            raise FaceattrError(f"{path}, line {first_no}: a count line but no header line follows")
    header_no, header = numbered[0]
    sep = "," if "," in header else None
    header_fields = _split(header, sep)
    if declared is not None or header_fields[0] in CELEBA_ATTRIBUTES:
        fmt, names = "official", header_fields
    else:
        fmt = "kaggle_csv" if sep == "," else "filename_header"
        names = header_fields[1:]
    if not names:
        raise FaceattrError(f"{path}, line {header_no}: the header names no attributes")
    if len(set(names)) != len(names):
        raise FaceattrError(f"{path}, line {header_no}: the header names an attribute twice")

    report = ParseReport(source=str(path), format=fmt, declared_count=declared)
    ids: list[str] = []
    rows: list[list[int]] = []
    seen: dict[str, int] = {}
    width = len(names) + 1
    for line_no, line in numbered[1:]:
        report.rows_read += 1
        fields = _split(line, sep)
        if len(fields) != width:
            report.bad_rows.append({"line": line_no, "reason": f"{len(fields)} fields, expected {width}"})
            continue
        try:
            row = [_VALUES[v] for v in fields[1:]]
        except KeyError:
            bad = next(v for v in fields[1:] if v not in _VALUES)
            report.bad_rows.append({"line": line_no, "reason": f"value {bad!r} is not one of -1, 0, 1"})
            continue
        image_id = fields[0]
        if image_id in seen:
            raise FaceattrError(
                f"{path}, line {line_no}: duplicate image id {image_id!r} (first seen on line {seen[image_id]})"
            )
        seen[image_id] = line_no
        ids.append(image_id)
        rows.append(row)
    if warn:
        _warn(path, report)
    if report.rows_read == 0:
        raise FaceattrError(f"{path}, line {header_no}: the header is followed by no rows")
    if not rows:
        first_bad = report.bad_rows[0]
        raise FaceattrError(
            f"{path}: none of its {report.rows_read} rows is usable (line {first_bad['line']}: {first_bad['reason']})"
        )
    values = np.asarray(rows, dtype=np.uint8).reshape(len(rows), len(names))
    return AttributeTable(ids=ids, names=names, values=values), report


def _warn(source: str | Path, parsed: ParseReport) -> None:
    """The count line's disagreement and the dropped rows, as warnings on stderr."""
    if parsed.count_mismatch:
        print(
            f"warning: {source}: the count line says {parsed.declared_count} rows, the file has {parsed.rows_read}",
            file=sys.stderr,
        )
    for problem in parsed.bad_rows[:10]:
        print(f"warning: {source}, line {problem['line']}: {problem['reason']}; row dropped", file=sys.stderr)
    if parsed.bad_rows:
        listed = " (the first 10 listed above)" if len(parsed.bad_rows) > 10 else ""
        print(
            f"warning: {source}: {len(parsed.bad_rows)} of {parsed.rows_read} rows dropped as malformed{listed}",
            file=sys.stderr,
        )


def clean_labels(
    attr_file: str | Path,
    attributes: str | Sequence[str],
    available_images: Collection[str],
    bad_images: Collection[str] = (),
) -> tuple[pd.DataFrame, dict]:
    """Select attributes and keep the rows whose image exists; return the table and a full report."""
    table, parsed = parse_attribute_file(attr_file)  # warns of a wrong count line and of every dropped row
    names = select_attributes(attributes, table.names, str(attr_file))
    available = set(available_images)
    bad = set(bad_images)
    keep = np.array([i in available for i in table.ids], dtype=bool)
    dropped_bad = sum(1 for i in table.ids if i not in available and i in bad)
    dropped_missing = int((~keep).sum()) - dropped_bad
    frame = table.to_frame(names)[keep].sort_values("image_id", kind="stable").reset_index(drop=True)

    if frame.empty:
        raise FaceattrError(
            f"{attr_file}: no usable rows: {parsed.rows_read} read, {len(parsed.bad_rows)} malformed, "
            f"{dropped_missing} without an image, {dropped_bad} with a bad image"
        )

    labelled = set(table.ids)
    report = {
        "source": str(attr_file),
        "format": parsed.format,
        "declared_count": parsed.declared_count,
        "count_mismatch": parsed.count_mismatch,
        "rows_read": parsed.rows_read,
        "rows_malformed": len(parsed.bad_rows),
        "malformed_rows": parsed.bad_rows[:MAX_LISTED_PROBLEMS],
        "rows_missing_image": dropped_missing,
        "rows_bad_image": dropped_bad,
        "rows_kept": len(frame),
        "images_without_labels": len(available - labelled),
        "attributes": names,
        "positive_rate": {n: round(float(frame[n].mean()), 6) for n in names},
    }
    return frame, report
