"""Hostile or broken model files: refused in one line, without running code or allocating absurd sizes."""

from __future__ import annotations

import pathlib
import subprocess
import sys
from dataclasses import asdict

import pytest
import torch
from helpers import REPO

from faceattr.errors import FaceattrError
from faceattr.model.model_file import MODEL_FORMAT, ModelSpec, build_model, load_model, load_pretrained

ATTRS = [f"A{i}" for i in range(10)]


class RunsCode:
    """Unpickling this creates `marker`: stands for any command a crafted file could run."""

    def __init__(self, marker: pathlib.Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def model_payload(**spec_changes) -> dict:
    spec = asdict(ModelSpec(arch="mobilenet_v2", alpha=0.25, attributes=ATTRS, image_size=(32, 32)))
    model = build_model("mobilenet_v2", len(ATTRS), 0.25)
    return {"format": MODEL_FORMAT, "spec": {**spec, **spec_changes}, "state_dict": model.state_dict()}


def faceattr_cli(*args: str, cwd: pathlib.Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "faceattr.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )


@pytest.fixture
def photo(tmp_path) -> pathlib.Path:
    from PIL import Image

    path = tmp_path / "face.jpg"
    Image.new("RGB", (40, 48), (120, 90, 60)).save(path)
    return path


def test_a_model_file_that_would_run_code_is_refused_in_one_line(tmp_path, photo):
    marker = tmp_path / "pwned"
    torch.save({"format": MODEL_FORMAT, "spec": RunsCode(marker)}, tmp_path / "evil.pt")
    proc = faceattr_cli("predict", str(photo), "--model", str(tmp_path / "evil.pt"), cwd=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "refused without loading it" in lines[0], proc.stderr
    assert "weights_only" not in proc.stderr and "add_safe_globals" not in proc.stderr
    assert not marker.exists()


def test_raw_pickles_and_garbage_are_one_line_too(tmp_path):
    import pickle

    marker = tmp_path / "pwned"
    with open(tmp_path / "p4.pt", "wb") as fh:
        pickle.dump({"spec": RunsCode(marker)}, fh, protocol=4)  # torch warns in several lines about protocol 4
    (tmp_path / "garbage.pt").write_bytes(b"garbage")
    for name in ("p4.pt", "garbage.pt"):
        proc = faceattr_cli("predict", str(tmp_path), "--model", str(tmp_path / name), cwd=tmp_path)
        assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert "not a readable weights file" in proc.stderr and "weights_only" not in proc.stderr
    assert not marker.exists()


def test_pretrained_and_teacher_files_that_would_run_code_are_refused(tmp_path):
    marker = tmp_path / "pwned"
    torch.save({"state_dict": RunsCode(marker)}, tmp_path / "evil.pth")
    with pytest.raises(FaceattrError, match="model.pretrained: .* refused without loading it") as err:
        load_pretrained(build_model("mobilenet_v2", 3, 0.25), tmp_path / "evil.pth")
    assert "weights_only" not in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(FaceattrError, match="refused without loading it"):
        load_model(tmp_path / "evil.pth")  # what train.teachers and every faceattr command load through
    assert not marker.exists()


@pytest.mark.parametrize(
    "change, message",
    [
        ({"spec": "mobilenet_v2"}, "expected a mapping, got str"),
        ({"spec_drop": "attributes"}, "missing attributes"),
        ({"spec_changes": {"attributes": ATTRS + ["A10"]}}, "the weights do not fit its spec"),
        ({"spec_changes": {"image_size": [20000, 20000]}}, r"image_size must be \[height, width\]"),
        ({"spec_changes": {"arch": "os.system"}}, "arch 'os.system' is not one of"),
        ({"spec_changes": {"alpha": float("nan")}}, "alpha must be a number"),
        ({"state_dict": None}, "holds no state_dict"),
    ],
)
def test_a_model_file_with_a_bad_spec_is_one_line(tmp_path, photo, change, message):
    payload = model_payload(**change.get("spec_changes", {}))
    if "spec" in change:
        payload["spec"] = change["spec"]
    if "spec_drop" in change:
        del payload["spec"][change["spec_drop"]]
    if "state_dict" in change:
        payload["state_dict"] = change["state_dict"]
    torch.save(payload, tmp_path / "bad.pt")
    with pytest.raises(FaceattrError, match=message):
        load_model(tmp_path / "bad.pt")
    if change.get("spec_changes", {}).get("image_size"):  # through the CLI too: no 4.8 GB allocation, one line
        proc = faceattr_cli("predict", str(photo), "--model", str(tmp_path / "bad.pt"), cwd=tmp_path)
        assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert "image_size" in proc.stderr


def test_a_good_model_file_still_loads(tmp_path):
    torch.save(model_payload(), tmp_path / "good.pt")
    model, spec = load_model(tmp_path / "good.pt")
    assert spec.image_size == (32, 32) and spec.attributes == ATTRS
    with torch.no_grad():
        assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
