"""Hostile output paths and hostile model files: nothing is written through a symlink or replaces a device,
FIFO or link the user named; no model file makes a command write outside its output folder; a model file
altered after it was written is refused.

No test writes to a device: a FIFO and symlinks in tmp_path stand for them, and a character device
(/dev/null) is only looked at (lstat), with every writer patched to fail if reached."""

from __future__ import annotations

import io
import json
import os
import stat
import struct
import zipfile
from pathlib import Path

import pytest
import torch
from helpers import faceattr_cli, jpeg_bytes, small_model

from faceattr.atomic import atomic_path, refuse_special, write_json
from faceattr.errors import FaceattrError
from faceattr.model.model_file import ModelSpec, load_model

ATTRS = ["Male", "Smiling"]


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return small_model(tmp_path_factory.mktemp("model") / "model.pt", ATTRS)


def one_line_error(proc) -> str:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("faceattr: error: "), proc.stderr
    return lines[0]


def fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


# --- faceattr.atomic: a user-named output is a new or regular file, never a link, device or FIFO ------------


def test_refuse_special_names_what_is_there_and_lets_regular_files_and_new_paths_through(tmp_path):
    refuse_special(tmp_path / "new.json", "--out")
    (tmp_path / "file.json").write_text("{}")
    refuse_special(tmp_path / "file.json", "--out")
    (tmp_path / "elsewhere.json").write_text("keep")
    (tmp_path / "link.json").symlink_to(tmp_path / "elsewhere.json")
    cases = {tmp_path / "link.json": "a symbolic link", fifo(tmp_path / "pipe.json"): "a FIFO", tmp_path: "a folder"}
    for path, kind in cases.items():
        with pytest.raises(FaceattrError) as caught:
            refuse_special(path, "--out")
        message = str(caught.value)
        assert message.startswith(f"--out {path}: is {kind}") and "\n" not in message


def test_a_character_device_is_refused_by_looking_at_it_only(monkeypatch):
    device = Path("/dev/null")
    if not (os.path.exists(device) and stat.S_ISCHR(os.lstat(device).st_mode)):
        pytest.skip("no /dev/null character device here")

    def no_write(*args, **kwargs):
        raise AssertionError("a writer was reached")

    monkeypatch.setattr("faceattr.atomic.tempfile.mkstemp", no_write)
    monkeypatch.setattr("faceattr.atomic.os.replace", no_write)
    with pytest.raises(FaceattrError, match=r"--out /dev/null: is a character device, not a regular file"):
        write_json(device, {"a": 1}, regular_only="--out")
    assert stat.S_ISCHR(os.lstat(device).st_mode)


def test_a_symlink_or_fifo_is_neither_replaced_nor_written_through(tmp_path):
    target = tmp_path / "elsewhere.json"
    target.write_text("keep\n")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    pipe = fifo(tmp_path / "pipe.json")
    for path in (link, pipe):
        with pytest.raises(FaceattrError):
            write_json(path, {"a": 1}, regular_only="--out")
    assert link.is_symlink() and target.read_text() == "keep\n"
    assert stat.S_ISFIFO(os.lstat(pipe).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["elsewhere.json", "link.json", "pipe.json"]  # no temporary


def test_a_link_made_while_the_output_was_being_written_is_not_replaced(tmp_path):
    target = tmp_path / "out.json"
    with pytest.raises(FaceattrError, match="symbolic link"):
        with atomic_path(target, regular_only="--out") as tmp:
            tmp.write_text("new")
            target.symlink_to(tmp_path / "elsewhere")
    assert target.is_symlink()


def test_regular_files_and_the_pipelines_outputs_are_replaced_atomically_as_before(tmp_path):
    regular = tmp_path / "metrics.json"
    regular.write_text("old")
    write_json(regular, {"a": 1}, regular_only="--out")
    assert json.loads(regular.read_text()) == {"a": 1}
    # without regular_only (the pipeline's own outputs): a link there, a DVC cache link say, is replaced,
    # never written through
    (tmp_path / "cache").write_text("cached")
    (tmp_path / "stage.json").symlink_to(tmp_path / "cache")
    write_json(tmp_path / "stage.json", {"b": 2})
    assert not (tmp_path / "stage.json").is_symlink() and (tmp_path / "cache").read_text() == "cached"


# --- the commands: export --onnx, evaluate --out, explain --out ------------------------------------------------


def test_export_refuses_a_fifo_a_symlink_and_stdout_before_exporting(tmp_path, model, monkeypatch):
    def no_export(*args, **kwargs):
        raise AssertionError("exported before the path was checked")

    monkeypatch.setattr("faceattr.model.onnx_export.load_model", no_export)
    (tmp_path / "other.onnx").write_bytes(b"keep")
    (tmp_path / "link.onnx").symlink_to(tmp_path / "other.onnx")
    pipe = fifo(tmp_path / "pipe.onnx")
    for name, says in (
        ("pipe.onnx", "is a FIFO (named pipe), not a regular file"),
        ("link.onnx", "is a symbolic link"),
        ("-", "not written to standard output"),
    ):
        line = one_line_error(faceattr_cli(["export", "--model", str(model), "--onnx", name], tmp_path, check=False))
        assert f"--onnx {name}: " in line and says in line
    assert stat.S_ISFIFO(os.lstat(pipe).st_mode) and (tmp_path / "link.onnx").is_symlink()
    assert (tmp_path / "other.onnx").read_bytes() == b"keep" and not (tmp_path / "-").exists()


def test_export_refuses_a_character_device_without_writing_it(tmp_path, model, monkeypatch):
    if not stat.S_ISCHR(os.lstat("/dev/null").st_mode):
        pytest.skip("no /dev/null character device here")

    def no_write(*args, **kwargs):
        raise AssertionError("a writer was reached")

    for name in ("faceattr.model.onnx_export.load_model", "faceattr.atomic.tempfile.mkstemp", "os.replace"):
        monkeypatch.setattr(name, no_write)
    line = one_line_error(faceattr_cli(["export", "--model", str(model), "--onnx", "/dev/null"], tmp_path, check=False))
    assert "--onnx /dev/null: is a character device" in line


@pytest.fixture(scope="module")
def labelled(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("labelled")
    (root / "images").mkdir()
    rows = []
    for k in range(4):
        name = f"{k + 1:06d}.jpg"
        (root / "images" / name).write_bytes(jpeg_bytes(seed=k, size=(52, 64)))
        rows.append(f"{name} {(-1, 1)[k % 2]} {(1, -1)[k // 2]}")
    (root / "labels.txt").write_text(f"{len(rows)}\n{' '.join(ATTRS)}\n" + "\n".join(rows) + "\n")
    return root


def evaluate_args(model: Path, labelled: Path, out: str) -> list[str]:
    return ["evaluate", "--model", str(model), "--images", str(labelled / "images"), "--labels",
            str(labelled / "labels.txt"), "--out", out]  # fmt: skip


def test_evaluate_refuses_a_symlink_or_fifo_out_before_evaluating(tmp_path, labelled):
    (tmp_path / "real.json").write_text("keep")
    (tmp_path / "link.json").symlink_to(tmp_path / "real.json")
    fifo(tmp_path / "pipe.json")
    for name, kind in (("link.json", "a symbolic link"), ("pipe.json", "a FIFO")):
        # no model file at all: the refusal comes first
        line = one_line_error(faceattr_cli(evaluate_args(tmp_path / "none.pt", labelled, name), tmp_path, check=False))
        assert f"--out {name}: is {kind}" in line
    assert (tmp_path / "link.json").is_symlink() and (tmp_path / "real.json").read_text() == "keep"


def test_evaluate_out_dash_writes_the_json_alone_to_stdout(tmp_path, model, labelled):
    to_file = faceattr_cli(evaluate_args(model, labelled, "metrics.json"), tmp_path)
    to_stdout = faceattr_cli(evaluate_args(model, labelled, "-"), tmp_path)
    assert json.loads(to_stdout.stdout) == json.loads((tmp_path / "metrics.json").read_text())
    assert to_stdout.stdout == (tmp_path / "metrics.json").read_text()  # the same text, byte for byte
    assert "mean" in to_stdout.stderr and "mean" in to_file.stdout  # the table moved to stderr
    assert not (tmp_path / "-").exists()


def explain_args(model: Path, out: Path, *inputs: Path) -> list[str]:
    return ["explain", *map(str, inputs), "--model", str(model), "--attribute", "Male", "--out", str(out)]


def test_explain_refuses_a_png_name_taken_by_a_symlink_and_an_out_that_is_not_a_folder(tmp_path, model):
    (tmp_path / "face.jpg").write_bytes(jpeg_bytes(seed=1, size=(52, 64)))
    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "secret").write_text("keep")
    (out / "face_Male.png").symlink_to(tmp_path / "secret")
    line = one_line_error(faceattr_cli(explain_args(model, out, tmp_path / "face.jpg"), tmp_path, check=False))
    assert f"{out / 'face_Male.png'}: is a symbolic link" in line
    assert (out / "face_Male.png").is_symlink() and (tmp_path / "secret").read_text() == "keep"
    for bad in ("-", str(tmp_path / "secret")):
        line = one_line_error(
            faceattr_cli(explain_args(model, Path(bad), tmp_path / "face.jpg"), tmp_path, check=False)
        )
        assert f"--out {bad}: " in line


def test_explain_gives_images_with_the_same_base_name_distinct_files_in_input_order(tmp_path, model):
    for folder, seed in (("a", 1), ("b", 2)):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "x.jpg").write_bytes(jpeg_bytes(seed=seed, size=(52, 64)))
    inputs = (tmp_path / "a/x.jpg", tmp_path / "b/x.jpg")
    for run in ("one", "two"):
        proc = faceattr_cli(explain_args(model, tmp_path / run, *inputs), tmp_path)
        assert proc.stdout.split() == [str(tmp_path / run / "x_Male.png"), str(tmp_path / run / "x-2_Male.png")]
    one, two = tmp_path / "one", tmp_path / "two"
    assert (one / "x_Male.png").read_bytes() != (one / "x-2_Male.png").read_bytes()  # both kept
    assert all((one / n).read_bytes() == (two / n).read_bytes() for n in ("x_Male.png", "x-2_Male.png"))


def test_explain_builds_no_path_that_leaves_its_folder(tmp_path):
    from faceattr.explain.command import OutputNames

    names = OutputNames(tmp_path / "out")
    assert names.path("x_Male") == tmp_path / "out/x_Male.png"
    assert names.path("x_Male") == tmp_path / "out/x_Male-2.png"  # never the same file twice in a run
    for bad in ("/../../ESCAPED", "../ESCAPED", "a/b", "a\\b", "a\0b"):
        with pytest.raises(FaceattrError, match="not a file name inside it"):
            names.path(bad)


# --- hostile model files ---------------------------------------------------------------------------------------


def rewritten(model: Path, dest: Path, **spec_changes) -> Path:
    """The model file with its spec changed, as someone bypassing save_model's checks would write it."""
    payload = torch.load(model, weights_only=True)
    payload["spec"].update(spec_changes)
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    dest.write_bytes(buffer.getvalue())
    return dest


@pytest.mark.parametrize(
    "attributes, says",
    [
        (["/../../../../tmp/ESCAPED", "Smiling"], "attribute '/../../../../tmp/ESCAPED' is not a name of letters"),
        (["..", "Smiling"], "attribute '..' is not a name"),
        (["Male", "a\nb"], "attribute 'a\\nb' is not a name"),
        (["Male", "Male"], "attribute 'Male' is named twice"),
        (["Wearing Hat", "Male"], "attribute 'Wearing Hat' is not a name"),
    ],
)
def test_a_model_file_with_hostile_attribute_names_is_refused_at_load(tmp_path, model, attributes, says):
    hostile = rewritten(model, tmp_path / "hostile.pt", attributes=attributes)
    with pytest.raises(FaceattrError, match="invalid model spec") as caught:
        load_model(hostile)
    assert str(caught.value).startswith(f"{hostile}: invalid model spec: ") and says in str(caught.value)
    assert "\n" not in str(caught.value)
    (tmp_path / "face.jpg").write_bytes(jpeg_bytes(seed=1, size=(52, 64)))
    proc = faceattr_cli(
        ["explain", "face.jpg", "--model", str(hostile), "--out", str(tmp_path / "x/inner")], tmp_path, check=False
    )
    assert says in one_line_error(proc)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["face.jpg", "hostile.pt"]  # nothing written anywhere


def test_a_spec_made_in_code_follows_the_same_rule():
    with pytest.raises(FaceattrError, match="attribute 'a/b' is not a name"):
        ModelSpec("mobilenet_v2", 0.25, ["a/b"], (32, 32))
    assert (
        ModelSpec("mobilenet_v2", 0.25, ["A", "5_o_Clock_Shadow", "Male"], (32, 32)).attributes[1] == "5_o_Clock_Shadow"
    )


def flip_a_weight_byte(model: Path, dest: Path) -> Path:
    """The model file with one byte of a tensor's storage flipped: a zip still, every header intact."""
    data = bytearray(model.read_bytes())
    with zipfile.ZipFile(model) as archive:
        entry = next(i for i in archive.infolist() if "/data/" in i.filename and i.file_size > 64)
    name_len, extra_len = struct.unpack("<HH", data[entry.header_offset + 26 : entry.header_offset + 30])
    start = entry.header_offset + 30 + name_len + extra_len  # the entry's stored bytes
    data[start + entry.file_size // 2] ^= 0x01
    dest.write_bytes(bytes(data))
    return dest


def test_a_model_file_with_an_altered_weight_is_refused_in_one_line(tmp_path, model):
    altered = flip_a_weight_byte(model, tmp_path / "altered.pt")
    torch.load(altered, weights_only=True)  # what torch alone does: loads it, silently
    with pytest.raises(FaceattrError) as caught:
        load_model(altered)
    message = str(caught.value)
    assert message.startswith(f"model file: {altered} is damaged: its entry ") and "CRC-32" in message
    assert "\n" not in message
    (tmp_path / "face.jpg").write_bytes(jpeg_bytes(seed=1, size=(52, 64)))
    line = one_line_error(faceattr_cli(["predict", "face.jpg", "--model", str(altered)], tmp_path, check=False))
    assert str(altered) in line and "is damaged" in line


def test_an_intact_model_file_loads_and_its_bytes_are_unchanged_by_the_check(tmp_path, model):
    before = model.read_bytes()
    _, spec = load_model(model)
    assert spec.attributes == ATTRS and model.read_bytes() == before
    assert small_model(tmp_path / "again.pt", ATTRS).read_bytes() == before  # save_model: the same bytes
