"""A wrong file passed as --model: one line saying what the file is, what was expected, and what to do."""

from __future__ import annotations

import hashlib
import io
import zipfile

import pytest
import torch
from helpers import jpeg_bytes

from faceattr.cli.entry import main
from faceattr.model.model_file import ModelSpec, build_model, save_model

EXPECTED = "expected a faceattr model written by the train stage (models/model.pt, a torch zip archive)"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("wrong-models")
    model = build_model("mobilenet_v2", 3, alpha=0.25)
    save_model(root / "good.pt", model, ModelSpec("mobilenet_v2", 0.25, ["A", "B", "C"], (32, 32)))
    good = (root / "good.pt").read_bytes()
    (root / "face.jpg").write_bytes(jpeg_bytes(0, size=(32, 32)))
    (root / "empty.pt").write_bytes(b"")
    (root / "hello.pt").write_text("hello\n")
    with zipfile.ZipFile(root / "notes.pt", "w") as zf:
        zf.writestr("notes.txt", "not weights")
    (root / "truncated.pt").write_bytes(good[: len(good) // 2])  # an interrupted copy
    with zipfile.ZipFile(io.BytesIO(good)) as src, zipfile.ZipFile(root / "damaged.pt", "w") as dst:
        for info in src.infolist():  # a whole zip whose pickle is garbage
            dst.writestr(info, b"\x80\x02garbage" if info.filename.endswith("data.pkl") else src.read(info))
    # the first bytes of `faceattr export`'s output (protobuf: ir_version, producer "pytorch"), under a .pt name
    (root / "exported.pt").write_bytes(b"\x08\n\x12\x07pytorch\x1a\x0c2.14.1+cu130:\xb1\xb1G\n" + bytes(200))
    torch.save(build_model("mobilenet_v2", 3, alpha=0.25).state_dict(), root / "torchvision.pth")
    (root / "last.pt").write_bytes(hashlib.sha256(good).hexdigest().encode() + b"\n" + good)  # a checkpoint
    return root


@pytest.mark.parametrize(
    "name, says",
    [
        ("empty.pt", "it is an empty file (0 bytes: an interrupted copy or download?)"),
        ("hello.pt", "it is a 6-byte text file (starts with 'hello')"),
        ("notes.pt", "it is a zip archive that is not a torch archive (holds notes.txt)"),
        ("truncated.pt", "it is a truncated or damaged zip archive"),
        ("damaged.pt", "it is a damaged torch archive"),
        ("exported.pt", "it is an ONNX model"),
        ("torchvision.pth", "it is a bare state_dict ("),
        ("last.pt", "it is a faceattr training checkpoint"),
        ("face.jpg", "it is a JPEG image"),
    ],
)
def test_a_wrong_model_file_says_what_it_is_and_what_was_expected(files, capsys, name, says):
    rc = main(["predict", str(files / "face.jpg"), "--model", str(files / name)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1, err
    assert err[0].startswith(f"faceattr: error: model file: {files / name} is not a ")
    assert says in err[0] and EXPECTED in err[0]
    assert "PytorchStreamReader" not in err[0] and "invalid load key" not in err[0]


def test_the_hints_point_at_the_right_tool(files, capsys):
    hints = {
        "exported.pt": "`faceattr predict --onnx FILE`",
        "torchvision.pth": "set model.pretrained in params.yaml to its path",
        "last.pt": "use models/model.pt, written when training ends",
        "truncated.pt": "`dvc pull`",
        "face.jpg": "images are inputs, named without --model",
    }
    for name, hint in hints.items():
        assert main(["predict", str(files / "face.jpg"), "--model", str(files / name)]) == 2
        assert hint in capsys.readouterr().err, name


def test_the_same_words_for_model_pretrained(files):
    from faceattr.errors import FaceattrError
    from faceattr.model.model_file import load_pretrained

    with pytest.raises(
        FaceattrError,
        match=r"model.pretrained: .* it is a 6-byte text file .*expected a "
        r"torchvision-format weights file",
    ):
        load_pretrained(build_model("mobilenet_v2", 3, 0.25), files / "hello.pt")
