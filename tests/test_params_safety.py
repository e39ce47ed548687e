"""Params that would pass a loose check and fail later (after DVC removed outputs), and hostile YAML."""

from __future__ import annotations

import math

import pytest
from helpers import DEFAULT_PARAMS as DEFAULT
from helpers import REPO, check_params_on, with_value

from faceattr.config.params_file import load_params
from faceattr.config.schema import validate
from faceattr.errors import FaceattrError


def numeric_keys(node, prefix=""):
    """Every key of params.yaml whose value is a number (bools aside), found by walking the file."""
    for key, value in node.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from numeric_keys(value, f"{name}.")
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            yield name


NUMERIC = sorted(numeric_keys(DEFAULT))


def test_the_walk_finds_the_numbers_the_issue_names():
    assert {"seed", "unzip.max_uncompressed_mb", "train.warmup_epochs", "train.augment.max_rotate_deg"} <= set(NUMERIC)
    assert len(NUMERIC) >= 25


@pytest.mark.parametrize("key", NUMERIC)
@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan, 10**30, 2**64])
def test_every_number_is_finite_and_bounded(key, value):
    with pytest.raises(FaceattrError) as err:
        validate(with_value(key, value))
    message = str(err.value)
    assert key in message and "\n" not in message and len(message) < 400, message


def test_check_params_refuses_an_overflowing_seed(tmp_path):
    text = (REPO / "params.yaml").read_text().replace("\nseed: 42\n", "\nseed: 18446744073709551616\n")
    assert "18446744073709551616" in text
    proc = check_params_on(tmp_path, text)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: params.yaml: seed = 18446744073709551616 is not allowed; expected a whole number ≥ 0 and ≤ 4294967295"
    ]


def billion_laughs(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for k in range(1, levels + 1):
        refs = ", ".join([f"*a{k - 1}"] * 10)
        lines.append(f"a{k}: &a{k} [{refs}]")
    return "\n".join(lines) + f"\nalpha: *a{levels}\n"


def test_a_yaml_bomb_is_refused_before_anything_walks_it(tmp_path):
    """check_params on a "billion laughs" params.yaml: one line naming the file and the line, exit 2.
    The timeout only guards the suite (before the fix this ran for minutes at 1.5 GB); it asserts no speed."""
    proc = check_params_on(tmp_path, billion_laughs(), timeout=120)  # ~1e10 values once expanded, in under 1 KB
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines() == [
        "error: params.yaml:5: its anchors and aliases expand to more than 100,000 values (a YAML bomb?); refused. "
        "Write the values out instead of aliasing them"
    ]  # line 5: a4, the first value past the limit
    assert not (tmp_path / "data").exists()  # nothing written
    with pytest.raises(FaceattrError, match="YAML bomb"):
        load_params(tmp_path / "params.yaml")


def test_ordinary_aliases_still_load(tmp_path):
    path = tmp_path / "params.yaml"
    text = (REPO / "params.yaml").read_text().replace("subset: 3000", "subset: &s 3000") + "\n"
    path.write_text(text.replace("  sizes: [1000, 2000, 3000]", "  sizes: [1000, 2000, *s]"))
    assert load_params(path)["partition"]["sizes"] == [1000, 2000, 3000]


def test_a_huge_value_is_cut_in_the_message():
    huge = [["x" * 1000] * 1000] * 1000  # what an aliased value looks like once walked
    with pytest.raises(FaceattrError) as err:
        validate(with_value("train.teachers", huge))
    assert len(str(err.value)) < 300 and ("…" in str(err.value) or "..." in str(err.value))


@pytest.mark.parametrize("key", NUMERIC + ["partition.fractions", "synth.quality"])
def test_a_whole_number_past_float_range_is_one_line_naming_the_key(key):
    """10**400 is a valid YAML int that no float holds: comparing it is fine, math.isfinite() overflows."""
    value = [10**400, 0, 0] if key == "partition.fractions" else [10**400, 95] if key == "synth.quality" else 10**400
    with pytest.raises(FaceattrError) as err:
        validate(with_value(key, value))
    message = str(err.value)
    assert key in message and "\n" not in message and len(message) < 400, message


@pytest.mark.parametrize(
    "number, shown",
    [
        ("0x" + "f" * 5000, "<a whole number of about 6021 digits>"),  # hex: YAML reads it, repr() cannot print it
        ("1" * 5000, "Exceeds the limit (4300 digits) for integer string conversion"),  # decimal: YAML cannot read it
    ],
)
def test_a_number_too_long_for_python_to_print_is_a_one_line_error(tmp_path, number, shown):
    path = tmp_path / "params.yaml"
    path.write_text((REPO / "params.yaml").read_text().replace("\nseed: 42\n", f"\nseed: {number}\n"))
    with pytest.raises(FaceattrError) as err:
        load_params(path)
    message = str(err.value)
    assert shown in message and "\n" not in message and len(message) < 400, message


def test_deep_nesting_is_a_one_line_error(tmp_path):
    """PyYAML composes and constructs recursively: 3000 nested lists exhaust Python's recursion limit."""
    path = tmp_path / "params.yaml"
    path.write_text("alpha: " + "[" * 3000 + "]" * 3000 + "\n")
    with pytest.raises(FaceattrError, match=r"params.yaml: nested too deeply to be a params file$"):
        load_params(path)


@pytest.mark.parametrize(
    "content, shown",
    [
        (b"seed: 42\nalpha: \xff\n", "params.yaml: not UTF-8 text (invalid start byte at byte 16)"),
        (b"seed: 2024-13-01\n", "params.yaml: invalid YAML: month must be in 1..12"),  # YAML reads it as a date
    ],
)
def test_undecodable_text_is_a_one_line_error(tmp_path, content, shown):
    path = tmp_path / "params.yaml"
    path.write_bytes(content)
    with pytest.raises(FaceattrError) as err:
        load_params(path)
    assert str(err.value).endswith(shown) and "\n" not in str(err.value), str(err.value)
