"""What the tests share, in one module (test modules import from here, never from each other or conftest):

- pipeline: a temporary git clone of the working tree on a small config, and running real commands in it;
- images: generated JPEG/PNG bytes (16-bit and header-only PNGs made by hand), zips of them;
- params: the committed params.yaml, and copies with one key changed;
- models: a small MobileNetV2 whose answers depend on the image;
- training: a tiny learnable split and a TrainConfig for fast fits;
- serving: a real uvicorn server on a free loopback port, in a thread of the test process.
"""

from __future__ import annotations

import contextlib
import copy
import io
import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.request
import zipfile
import zlib
from pathlib import Path
from typing import Iterator

import numpy as np
import yaml
from PIL import Image

REPO = Path(__file__).resolve().parents[1]


def dvc_yaml(root: Path = REPO) -> dict:
    """dvc.yaml as DVC reads it: its ${paths.NAME} variables replaced by faceattr/config/paths.yaml's values."""
    import re

    paths = yaml.safe_load((root / "faceattr/config/paths.yaml").read_text())["paths"]
    text = re.sub(r"\$\{paths\.(\w+)\}", lambda m: paths[m.group(1)], (root / "dvc.yaml").read_text())
    return yaml.safe_load(text)


BIN = Path(sys.executable).parent

# --- pipeline: a temporary clone and real commands -----------------------------------------------------------

TINY = {
    "alpha": 1.0,
    "subset": 60,
    "synth": {"count": 400},  # enough that extraction lasts long enough to be interrupted half-way
    "partition": {"sizes": [30, 60]},
    "train": {"image_size": [32, 32], "epochs": 2, "batch_size": 16},
}


def run(args: list[str], cwd: Path, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run a command with the project's venv first on PATH and the default MLflow store (unless env sets one)."""
    base = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1"}
    base.pop("MLFLOW_TRACKING_URI", None)
    env = {**base, **(env or {})}
    return checked(subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True), check)


def checked(proc: subprocess.CompletedProcess, check: bool) -> subprocess.CompletedProcess:
    """The command's answer; with check, an error showing its output unless it exited 0."""
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, proc.args))} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def faceattr_cli(args: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    """`faceattr ARGS` in `cwd`, run by faceattr.cli.entry.main in this process, as `run` would (same environment, the
    answer as a CompletedProcess): tests that make dozens of calls skip a new interpreter's torch import (~5 s)
    each. The directory, the environment and MLflow's tracking URI are put back afterwards."""
    import mlflow

    from faceattr.cli.entry import main

    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    out, err = io.StringIO(), io.StringIO()
    try:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
        os.environ["DVC_NO_ANALYTICS"] = "1"
        os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(args)
            except SystemExit as exc:  # argparse's usage errors
                code = exc.code if isinstance(exc.code, int) else 1
    finally:
        os.chdir(saved_cwd)
        mlflow.set_tracking_uri(None)  # faceattr sets it for the store it opened
        os.environ.clear()
        os.environ.update(saved_env)
    return checked(subprocess.CompletedProcess(["faceattr", *args], code, out.getvalue(), err.getvalue()), check)


def merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for k, v in override.items():
        out[k] = merge(base.get(k, {}), v) if isinstance(v, dict) else v
    return out


def make_clone(dest: Path, overrides: dict) -> Path:
    """Copy the working tree (tracked and untracked-but-not-ignored files) into a fresh git repo."""
    listed = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=REPO,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for rel in filter(None, listed):
        src = REPO / rel
        if src.is_file() and not rel.startswith(("dvc.lock", "metrics/", "plots/")):
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    params = yaml.safe_load((dest / "params.yaml").read_text())
    (dest / "params.yaml").write_text(yaml.safe_dump(merge(params, overrides), sort_keys=False))
    run(["git", "init", "-q", "-b", "main"], dest)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "add", "-A"], dest)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init"], dest)
    run(["git", "config", "user.name", "faceattr test"], dest)
    run(["git", "config", "user.email", "test@faceattr.invalid"], dest)
    return dest


# --- params ----------------------------------------------------------------------------------------------------

DEFAULT_PARAMS = yaml.safe_load((REPO / "params.yaml").read_text())


def with_value(key: str, value) -> dict:
    """A copy of the committed params.yaml with one dotted key set to `value`."""
    params = copy.deepcopy(DEFAULT_PARAMS)
    *parents, last = key.split(".")
    node = params
    for part in parents:
        node = node[part]
    node[last] = value
    return params


# --- images ----------------------------------------------------------------------------------------------------


def jpeg_bytes(seed: int = 0, size: tuple[int, int] = (24, 30), fmt: str = "JPEG") -> bytes:
    rng = np.random.default_rng(seed)
    img = Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk (PIL writes no 16-bit RGB and never a lying header, so some PNGs are made by hand)."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png16_and_png8(seed: int, size=(30, 36)) -> tuple[bytes, bytes]:
    """The same picture as a 16-bit RGB PNG and as the 8-bit PNG of its high bytes."""
    rng = np.random.default_rng(seed)
    high = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint16)
    wide = (high << 8) | high  # v*257: exactly v after scaling to 8 bits
    raw = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in wide)  # PIL cannot write 16-bit RGB

    ihdr = struct.pack(">IIBBBBB", size[0], size[1], 16, 2, 0, 0, 0)
    png16 = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(raw)) + _chunk(b"IEND", b"")
    buf = io.BytesIO()
    Image.fromarray(high.astype(np.uint8)).save(buf, format="PNG")
    return png16, buf.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares width×height pixels in a few dozen bytes (a decompression bomb's header)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(b"\0" * 64)) + _chunk(b"IEND", b"")
    )


def write_zip(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return path


# --- models ----------------------------------------------------------------------------------------------------


def small_model(path: Path, attributes: list[str]) -> Path:
    """A MobileNetV2 (alpha 0.25, 64×52 input) with batch-norm statistics from one batch of noise: freshly
    initialised, its signal fades to nothing in eval mode (every probability 0.5); these statistics make its
    answers depend on the image, so tests can compare them."""
    import torch

    from faceattr.model.model_file import ModelSpec, build_model, save_model

    torch.manual_seed(0)
    model = build_model("mobilenet_v2", len(attributes), alpha=0.25)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = None
    with torch.no_grad():
        model.train()(torch.rand(16, 3, 64, 52))
    save_model(path, model.eval(), ModelSpec("mobilenet_v2", 0.25, list(attributes), (64, 52)))
    return path


# --- training: tiny data and a fast TrainConfig ------------------------------------------------------------------

TRAIN_ATTRS = ["A", "B", "C"]


def tiny_data(n: int, seed: int):
    """n random 32×32 images with three labels; A (the mean of the red channel over 127) is learnable."""
    import torch

    from faceattr.data.splits import Split

    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g)
    labels = (torch.rand(n, 3, generator=g) > 0.5).float()
    labels[:, 0] = (images[:, 0].float().mean((1, 2)) > 127).float()  # something learnable
    return Split(images, labels)


def repository_training(**changes):
    """The repository's params.yaml as a TrainConfig (`Params.training()`) with `changes`
    (`TrainConfig.with_changes`: each key put in its group; `freeze` as params.yaml writes it)."""
    from faceattr.config.schema import load_config

    return load_config(REPO / "params.yaml").training().with_changes(**changes)


def train_config(**overrides):
    """A TrainConfig for a few seconds' fit on tiny_data: alpha 0.25, 32×32, 3 epochs, one thread, fp32, the
    rest params.yaml's."""
    base = dict(
        alpha=0.25,
        image_size=(32, 32),
        epochs=3,
        batch_size=8,
        lr=0.01,
        seed=7,
        threads=1,
        precision="fp32",
        augment={"hflip": True, "max_rotate_deg": 5, "brightness": 0.1},
    )
    return repository_training(**{**base, **overrides})


def same_weights(a, b) -> bool:
    """Two fits (FitResults) ended with bit-identical weights."""
    import torch

    return all(torch.equal(a.model.state_dict()[k], v) for k, v in b.model.state_dict().items())


# --- serving ---------------------------------------------------------------------------------------------------

SERVE_ATTRS = ["Eyeglasses", "Male", "Smiling", "Young"]


def tiny_model(path: Path) -> Path:
    """small_model with the server tests' attributes."""
    return small_model(path, SERVE_ATTRS)


@contextlib.contextmanager
def running_server(app, config=None) -> Iterator[str]:
    """Serve `app` with uvicorn on 127.0.0.1 at a port the kernel picks (no race for a free port); yield its URL.
    `config`: a uvicorn.Config of `app` (default: uvicorn's own settings, quiet)."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(config or uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=10) as response:
            assert response.status == 200
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def build_repo(parent: Path, overrides: dict) -> Path:
    """A clone of the working tree on `overrides` after `dvc repro`, with the results committed as HEAD."""
    clone = make_clone(parent, overrides)
    run(["dvc", "repro"], clone)
    run(["git", "add", "-A"], clone)
    run(["git", "commit", "-qm", "baseline"], clone)
    return clone


def mlflow_runs(repo: Path):
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{repo / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("faceattr")
    assert experiment is not None, "no MLflow experiment 'faceattr' at the repo root"
    return client, client.search_runs([experiment.experiment_id])


def check_params_on(folder: Path, params_text: str, timeout: float | None = None) -> subprocess.CompletedProcess:
    """`python -m stages.check_params` in `folder` on this params.yaml text, with only this checkout importable."""
    (folder / "params.yaml").write_text(params_text)
    return subprocess.run(
        [sys.executable, "-m", "stages.check_params"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )
