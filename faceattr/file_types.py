"""What a file that is not the expected weights file actually is, in words, for one-line errors.

torch's own reasons ("invalid load key, 'h'", "PytorchStreamReader failed reading zip archive") name its
internals; a person who passed the wrong file needs to hear what they passed and what to pass instead.
Only the file's first bytes and, for zips, its directory are read; nothing is unpickled here.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

MODEL_EXPECTED = "a faceattr model written by the train stage (models/model.pt, a torch zip archive)"
PRETRAINED_EXPECTED = "a torchvision-format weights file (a state_dict written by torch.save)"
HEAD_BYTES = 4096
# What `faceattr predict`, `explain` and `evaluate` take from folders and archives: the formats torchvision's
# decode_image reads (data.decoding.decode_rgb), so every file listed decodes (BMP and TIFF do not, and are not
# listed); a dataset holds JPEG or PNG only (archive.DATASET_FORMATS).
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")


def size_words(size: int) -> str:
    """6-byte, 12.3 KB, 9.2 MB: as a person would say the size."""
    if size < 1000:
        return f"{size}-byte"
    for unit, scale in (("KB", 1e3), ("MB", 1e6), ("GB", 1e9)):
        if size < scale * 1000 or unit == "GB":
            return f"{size / scale:.1f} {unit}"
    return f"{size} bytes"  # unreachable


def _text_start(head: bytes) -> str | None:
    """The start of the file as text ('hello world'), or None when it is not text."""
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        try:  # a multi-byte character cut at HEAD_BYTES is still text
            text = head[:-3].decode("utf-8")
        except UnicodeDecodeError:
            return None
    if not text or sum(c.isprintable() or c in "\r\n\t" for c in text) < 0.95 * len(text):
        return None
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first[:40] + ("…" if len(first) > 40 else "")


def _looks_like_onnx(head: bytes, name: str) -> bool:
    """An ONNX ModelProto starts with its ir_version (protobuf field 1, a small varint), then its producer."""
    if name.lower().endswith(".onnx"):
        return True
    protobuf = len(head) > 4 and head[0] == 0x08 and head[1] < 0x80 and head[2] == 0x12
    return protobuf and any(word in head[:200].lower() for word in (b"onnx", b"pytorch", b"tf2onnx", b"skl2onnx"))


def describe_file(path: str | Path | io.BytesIO) -> tuple[str, str]:
    """(what the file is, a hint what to do), e.g. ("a 6-byte text file (starts with 'hello')", "")."""
    if isinstance(path, io.BytesIO):
        data, name = path.getvalue(), ""
        size, head = len(data), data[:HEAD_BYTES]
    else:
        name = str(path)
        try:
            size = Path(path).stat().st_size
            with open(path, "rb") as fh:
                head = fh.read(HEAD_BYTES)
        except OSError as exc:
            return f"a file that cannot be read ({exc.strerror or exc})", ""
    if size == 0:
        return "an empty file (0 bytes: an interrupted copy or download?)", ""
    if re.fullmatch(rb"[0-9a-f]{64}\n", head[:65]) and head[65:69] == b"PK\x03\x04":
        return (
            "a faceattr training checkpoint (resumable training state, not a finished model)",
            "use models/model.pt, written when training ends",
        )
    if _looks_like_onnx(head, name):
        return f"an ONNX model ({size_words(size)})", "run an ONNX model with `faceattr predict --onnx FILE`"
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return _describe_zip(path, size)
    if head.startswith(b"\xff\xd8\xff"):
        return "a JPEG image", "images are inputs, named without --model"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "a PNG image", "images are inputs, named without --model"
    if head.startswith(b"\x89HDF"):
        return "an HDF5 file (a Keras .h5 model?)", ""
    if len(head) > 10 and head[8:10] == b'{"':
        return "a safetensors file", ""
    if head[:2] in (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05"):
        return (f"a {size_words(size)} Python pickle that is not a torch archive", "refused without running any of it")
    text = _text_start(head)
    if text is not None:
        return f"a {size_words(size)} text file (starts with {text!r})", ""
    return f"a {size_words(size)} binary file of no known kind (starts with {head[:8].hex(' ')})", ""


def _describe_zip(path: str | Path | io.BytesIO, size: int) -> tuple[str, str]:
    """A torch archive (damaged, since it did not load), another zip, or a zip cut short."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = [i.filename for i in zf.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, OSError, ValueError):
        return (
            f"a truncated or damaged zip archive ({size_words(size)}; its directory at the end is missing: "
            f"an interrupted copy or download?)",
            "copy it again, or `dvc pull` / `dvc repro` for the pipeline's own",
        )
    if any(n.endswith("/data.pkl") or n == "data.pkl" for n in names):
        return (
            f"a damaged torch archive ({size_words(size)})",
            "copy it again, or `dvc pull` / `dvc repro` for the pipeline's own",
        )
    images = [n for n in names if n.lower().endswith(PHOTO_SUFFIXES)]
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    if images:
        return (
            f"a zip archive of {len(images)} image(s) ({shown}), not a torch archive",
            "image archives are inputs, named without --model",
        )
    return f"a zip archive that is not a torch archive (holds {shown or 'nothing'})", ""


def describe_payload(payload: object) -> tuple[str, str]:
    """What a torch file that loaded but is not a faceattr model holds, and what to do with it."""
    if isinstance(payload, dict):
        inner = payload.get("state_dict") if isinstance(payload.get("state_dict"), dict) else payload
        tensors = [k for k, v in inner.items() if _is_tensor(v)]
        if tensors and len(tensors) == len(inner):
            return (
                f"a bare state_dict ({len(tensors)} tensors, e.g. {str(tensors[0])[:40]}) without faceattr's "
                f"spec (architecture, attributes, input size): a torchvision weights file?",
                "to train from it, set model.pretrained in params.yaml to its path",
            )
        if payload.get("format") and isinstance(payload.get("format"), str):
            return f"a file of format {payload['format'][:40]!r}", ""
        keys = ", ".join(map(str, list(payload)[:5]))
        return f"a torch file holding a mapping of {keys or 'nothing'}", ""
    return f"a torch file holding a {type(payload).__name__}", ""


def _is_tensor(value: object) -> bool:
    import torch

    return isinstance(value, torch.Tensor)


def not_a_weights_file(what: str, path: object, kind: str, hint: str) -> str:
    """The one-line error: what the file is, what was expected, and what to do."""
    expected = {"model file": MODEL_EXPECTED, "model.pretrained": PRETRAINED_EXPECTED}.get(what)
    message = f"{what}: {path} is not a readable weights file: it is {kind}"
    if expected:
        message += f"; expected {expected}"
    return message + (f" ({hint})" if hint else "")
