"""ONNX export of a trained model, checked against PyTorch, and prediction with ONNX Runtime.

The exported file carries the model's attributes, input size and normalisation as metadata, so
`faceattr predict --onnx model.onnx` needs nothing else.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from faceattr.atomic import STDOUT, atomic_path, refuse_special
from faceattr.data.decoding import normalize
from faceattr.errors import FaceattrError
from faceattr.model.model_file import ModelSpec, load_model

MAX_ABS_DIFF = 1e-4
SPEC_KEY = "faceattr.spec"


def session_options(threads: int | None = None):
    """ONNX Runtime's session options for `faceattr predict --onnx`, stated rather than left to defaults.

    All graph optimisations (constant folding, operator fusion, the CPU's blocked layout); one operator at
    a time (sequential, one inter-op thread: a MobileNetV2 is a chain, nothing to run side by side); inside
    each operator as many threads as PyTorch uses in this process (`threads`, default
    torch.get_num_threads(): the physical cores, or OMP_NUM_THREADS where set), so `--onnx` and the
    PyTorch path follow one thread rule. ONNX Runtime 1.32's own defaults are the same level and mode with
    one intra-op thread per physical core, so on an unconstrained machine these match them (measured:
    benchmarks/README.md); they differ where OMP_NUM_THREADS or torch's thread count says otherwise.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = threads or torch.get_num_threads()
    options.inter_op_num_threads = 1
    return options


def export_onnx(model_path: str | Path, onnx_path: str | Path, samples: int = 4, seed: int = 0) -> float:
    """Export to ONNX (dynamic batch) and return the largest |ONNX − PyTorch| logit difference on random inputs.

    A difference above 1e-4 is an error and leaves no file.
    """
    import onnx
    import onnxruntime as ort

    _check_writable(Path(onnx_path))  # before the export, which takes a while
    model, spec = load_model(model_path)
    h, w = spec.image_size
    example = torch.randn(2, 3, h, w)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "model.onnx"
        batch = torch.export.Dim("batch", min=1, max=4096)
        torch.onnx.export(
            model,
            (example,),
            str(raw),
            input_names=["images"],
            output_names=["logits"],
            dynamic_shapes={"x": {0: batch}},
            dynamo=True,
            external_data=False,
            verbose=False,
        )
        proto = onnx.load(str(raw))
        entry = proto.metadata_props.add()
        entry.key, entry.value = SPEC_KEY, json.dumps(asdict(spec))
        data = proto.SerializeToString()
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(samples, 3, h, w, generator=gen)
    with torch.no_grad():
        expected = model(x).numpy()
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    diff = float(np.abs(got - expected).max())
    if diff > MAX_ABS_DIFF:
        raise FaceattrError(f"ONNX export differs from PyTorch by {diff:.2e} (> {MAX_ABS_DIFF:g}); not written")
    try:
        with atomic_path(onnx_path, regular_only="--onnx") as out:
            out.write_bytes(data)
    except OSError as exc:
        raise FaceattrError(
            f"--onnx {onnx_path}: cannot write it ({exc.strerror or exc}); nothing was written"
        ) from None
    return diff


def _check_writable(path: Path) -> None:
    """One line for an --onnx path that cannot be written: a folder, a missing or read-only folder, or a path
    that is not a regular file (a symlink, a device, a FIFO: refused, never replaced; see refuse_special)."""
    if str(path) == STDOUT:
        raise FaceattrError("--onnx -: an ONNX model is binary and is not written to standard output; give a file name")
    if path.is_dir():
        raise FaceattrError(f"--onnx {path}: is a folder; give a file name such as {path / 'model.onnx'}")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise FaceattrError(f"--onnx {path}: folder {folder} does not exist")
    refuse_special(path, "--onnx")
    import os

    if not os.access(folder, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise FaceattrError(f"--onnx {path}: not writable (permission denied)")


class OnnxPredictor:
    """An exported model run by ONNX Runtime on the CPU, with the spec it was exported with."""

    batch_size = 256  # images per session.run: see benchmarks/README.md (ONNX Runtime against PyTorch)

    def __init__(self, path: str | Path, threads: int | None = None):
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise FaceattrError(f"{path}: ONNX model not found (make one with `faceattr export`)")
        try:
            self.session = ort.InferenceSession(str(path), session_options(threads), providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises several types for a bad file
            raise FaceattrError(f"{path}: not a readable ONNX model ({exc})") from None
        meta = self.session.get_modelmeta().custom_metadata_map
        if SPEC_KEY not in meta:
            raise FaceattrError(f"{path}: not exported by faceattr (no {SPEC_KEY} metadata)")
        self.spec = ModelSpec.from_dict(json.loads(meta[SPEC_KEY]))
        self.input_name = self.session.get_inputs()[0].name

    def probabilities(self, images: torch.Tensor, batch_size: int | None = None) -> np.ndarray:
        batch_size = batch_size or self.batch_size
        out = []
        for start in range(0, images.shape[0], batch_size):
            x = normalize(images[start : start + batch_size], self.spec.mean, self.spec.std).numpy()
            out.append(self.session.run(None, {self.input_name: x})[0])
        logits = np.concatenate(out) if out else np.zeros((0, len(self.spec.attributes)), np.float32)
        return 1 / (1 + np.exp(-logits))
