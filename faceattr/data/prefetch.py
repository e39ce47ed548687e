"""Reading files ahead of the processes that decode them, so a cold page cache does not stall them.

Each decoder reads its file with one blocking read. On a cold page cache (after other stages wrote more
than the cache holds: at 200,000 images, preprocess's input had been evicted) that is one small read at a
time per decoder, and the decoders spend their time waiting in the kernel: preprocess took 0.53 ms an
image instead of 0.39 (benchmarks/README.md, Scale). `posix_fadvise(POSIX_FADV_WILLNEED)` queues a file's
read without waiting for it, so a thread that announces each file a bounded window before its decoder gets
there keeps the disk busy while the decoders work. It is only a hint: the bytes read are the same.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Sequence

AHEAD = 1024  # files announced before their row is consumed (0: none, the benchmark's baseline)


class Prefetcher:
    """Announces `paths` in order, at most `ahead` beyond the rows consumed so far (`consumed()` per row).

    A context manager: leaving it stops the thread. Where `os.posix_fadvise` does not exist (macOS,
    Windows) it does nothing.
    """

    def __init__(self, paths: Sequence[str | os.PathLike[str]], ahead: int | None = None):
        self._paths = paths
        self._ahead = AHEAD if ahead is None else ahead
        self._room = threading.Semaphore(self._ahead)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="faceattr-prefetch", daemon=True)

    def __enter__(self) -> Prefetcher:
        if self._ahead > 0 and hasattr(os, "posix_fadvise"):
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._room.release()  # wakes the thread if it waits for room
        if self._thread.is_alive():
            self._thread.join()

    def consumed(self) -> None:
        """One more row is done: the thread may announce one more file."""
        self._room.release()

    def _run(self) -> None:
        for path in self._paths:
            self._room.acquire()
            if self._stop.is_set():
                return
            try:
                fd = os.open(Path(path), os.O_RDONLY)
            except OSError:
                continue  # a missing or unreadable file is the decoder's to report
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
            except OSError:
                pass  # a file system without the hint: the decoder reads it as before
            finally:
                os.close(fd)
