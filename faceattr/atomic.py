"""Crash-safe writes: every output goes to a temporary file beside it and is renamed into place.

An interrupted stage therefore leaves either the previous output or none, never a truncated file.

The rename replaces whatever the target path names. For the pipeline's own outputs that is wanted (a DVC
cache link there is replaced, never written through into the cache); a path the user names on the command
line (`--out`, `--onnx`) is checked first with `refuse_special`: it may be absent or a regular file, but a
symlink, device, FIFO, socket or folder there is refused in one line rather than replaced.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator

from faceattr.errors import FaceattrError

if TYPE_CHECKING:
    import pandas as pd

STDOUT = "-"  # the name that means standard output, for the outputs that may go there

_KINDS = (
    (stat.S_ISLNK, "a symbolic link"),
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
)


def refuse_special(path: str | os.PathLike[str], option: str) -> None:
    """Refuse, in one line naming `option` and the path, a user-named output path that exists and is not a
    regular file: a symlink (not followed: refused, since the rename would replace the link and writing
    through it would reach a file elsewhere), a device such as /dev/full, a FIFO, a socket or a folder.

    Checked before any work and again just before the rename (atomic_path's `regular_only`), so nothing
    such a path names is ever replaced or written to."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as exc:  # a folder on the way that cannot be searched, a name too long
        raise FaceattrError(
            f"{option} {path}: cannot be checked ({exc.strerror or exc}); nothing was written"
        ) from None
    if stat.S_ISREG(mode):
        return
    kind = next((what for test, what in _KINDS if test(mode)), "not a regular file")
    if stat.S_ISLNK(mode):
        kind += f" (to {os.readlink(path)!r})"
    raise FaceattrError(
        f"{option} {path}: is {kind}, not a regular file; refused, neither replaced nor written to "
        f"(give the path of a new or regular file)"
    )


def _writer_alive(leftover: Path, target: Path) -> bool:
    """Whether the process that made this temporary (its pid is in the name) is still running."""
    pid = leftover.name[len(target.name) + 2 :].split(".", 1)[0]
    if not (pid.isascii() and pid.isdigit()):
        return False  # no pid: made before pids were recorded, so long stale
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, OverflowError):  # OverflowError: a number past any pid
        return False
    except PermissionError:  # another user's live process
        return True
    # A writer killed with its parent (dvc) is reparented to PID 1, which in many containers never reaps it:
    # it stays a zombie, answering kill(pid, 0), for good.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:  # ended since kill(); or there is no /proc (macOS), where kill() is all we have
        return not Path("/proc/self/stat").exists()
    return state not in ("Z", "X")


def _sweep_stale(target: Path) -> None:
    """Remove temporaries of `target` left by a killed writer (SIGKILL runs no cleanup).

    Each output has one writer at a time (DVC locks the repository); a temporary whose writer is still
    alive (an orphaned trainer, say) is left to it.
    """
    for leftover in target.parent.glob(f".{glob.escape(target.name)}.*.tmp"):
        if _writer_alive(leftover, target):
            continue
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)


def sweep_stale(targets: Iterable[str | os.PathLike[str]]) -> None:
    """Sweep the stale temporaries of every target (each stage does this for all outputs as it starts,
    since an output DVC restores from its cache is never written again, so nothing else would)."""
    for target in map(Path, targets):
        if target.parent.is_dir():
            _sweep_stale(target)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], regular_only: str | None = None) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it onto `path` only if the block succeeds.

    With `regular_only` (the option that named the path, for the message), the target must be absent or a
    regular file, both before the block and at the rename (refuse_special)."""
    target = Path(path)
    if regular_only is not None:
        refuse_special(target, regular_only)
    target.parent.mkdir(parents=True, exist_ok=True)
    _sweep_stale(target)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the usual permissions
        if regular_only is not None:
            refuse_special(target, regular_only)  # made since the first check: still never replaced
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: str | os.PathLike[str], text: str, regular_only: str | None = None) -> None:
    """Atomically write UTF-8 text with Unix newlines (`regular_only`: as atomic_path's)."""
    with atomic_path(path, regular_only) as tmp:
        tmp.write_text(text, encoding="utf-8", newline="\n")


def write_json(path: str | os.PathLike[str], data: Any, regular_only: str | None = None) -> None:
    """Atomically write JSON with sorted keys, so equal data gives equal bytes (`regular_only`: as atomic_path's)."""
    write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n", regular_only)


def write_csv(path: str | os.PathLike[str], frame: pd.DataFrame) -> None:
    """Atomically write a table as CSV: a header, no index, Unix newlines (every CSV output of every stage)."""
    write_text(path, frame.to_csv(index=False, lineterminator="\n"))


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield an empty staging folder beside `path`; it replaces `path` only if the block succeeds."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    _sweep_stale(target)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp", dir=target.parent))
    try:
        yield staging
        os.chmod(staging, 0o777 & ~_umask())
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
